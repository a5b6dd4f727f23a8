"""Team chat conversations and their messages (schema ``chat``)."""
