"""The event log: an organisation's published events, as the outbox stores them (read-only)."""
