"""Tables of the audio module (placeholder until the schema work lands)."""
