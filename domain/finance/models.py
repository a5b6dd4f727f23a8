"""Tables of the finance module (placeholder until the schema work lands)."""
