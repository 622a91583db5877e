"""Where a request goes: one module per integration type."""
