"""The ``lychgate`` command line."""
