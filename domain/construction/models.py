"""Tables of the construction module (placeholder until the schema work lands)."""
