"""Tables of the pricing module (placeholder until the schema work lands)."""
