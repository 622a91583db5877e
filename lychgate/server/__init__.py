"""The HTTP server and process management: the top of the stack."""
