"""lychgate: serve APIs described for Amazon API Gateway, with AWS's authorization behaviour."""

__version__ = "0.1.0"
