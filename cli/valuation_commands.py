"""`dealdesk` commands of the valuation module (placeholder until its work lands)."""
