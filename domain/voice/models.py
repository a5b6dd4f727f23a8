"""Tables of the voice module (placeholder until the schema work lands)."""
