"""The event outbox (placeholder until the events work lands)."""
