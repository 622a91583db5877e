"""Who is calling: one module per authorization type."""
