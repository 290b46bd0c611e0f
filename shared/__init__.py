"""Contracts and stateless plumbing imported by the write side, the projector and the search API."""
