"""Tables of the deal module (placeholder until the schema work lands)."""
