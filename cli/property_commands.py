"""`dealdesk` commands of the property module (placeholder until its work lands)."""
