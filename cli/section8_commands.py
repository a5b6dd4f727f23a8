"""`dealdesk` commands of the section8 module (placeholder until its work lands)."""
