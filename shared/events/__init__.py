"""Event schemas, type registry, upcasters and the message envelope."""
