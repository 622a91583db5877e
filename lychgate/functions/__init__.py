"""Lambda-style functions: local handlers and AWS's event formats."""
