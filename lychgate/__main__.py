"""``python -m lychgate`` runs the CLI."""

from lychgate.cli.main import main

main()
