"""Event store: the PostgreSQL implementation, an in-memory twin for unit tests, and their shared records."""
