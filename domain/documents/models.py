"""Document and object metadata tables (placeholder until the storage work lands)."""
