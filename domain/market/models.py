"""Tables of the market module (placeholder until the schema work lands)."""
