"""Tables of the property module (placeholder until the schema work lands)."""
