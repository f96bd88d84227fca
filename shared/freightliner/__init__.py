"""Freightliner: container image replication between ECR, GAR and any OCI registry."""
