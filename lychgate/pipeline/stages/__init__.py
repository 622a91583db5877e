"""The pipeline's stages, one module per phase; ``pipeline/__init__.py`` lists their order."""
