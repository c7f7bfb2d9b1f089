"""One module per request queue."""
