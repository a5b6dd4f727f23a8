"""Tables of the whatsapp module (placeholder until the schema work lands)."""
