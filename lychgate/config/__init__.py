"""Loading projects: ``lychgate.yaml`` and the API documents it names, into ``config.model``."""
