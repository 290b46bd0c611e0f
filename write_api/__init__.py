"""The write side: HTTP commands into the PostgreSQL event store, and the relay that publishes what committed."""
