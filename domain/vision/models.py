"""Tables of the vision module (placeholder until the schema work lands)."""
