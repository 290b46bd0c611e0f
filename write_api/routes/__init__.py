"""HTTP routes of the write API, one module per aggregate."""
