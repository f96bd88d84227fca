"""Freightliner: container image replication between ECR, GAR and any OCI registry."""

__version__ = "0.1.0"
"""The one place the version is written: pyproject.toml reads it (`dynamic`)."""
