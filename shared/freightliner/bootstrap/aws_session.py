"""Where every runtime's AWS credentials come from: the default chain inside AWS, a role
assumed with a Google ID token or keys held in a secret outside it (the Cloud Function)."""

from __future__ import annotations

from freightliner.adapters.aws.sessions import AwsClients, CredentialSource
from freightliner.adapters.credential_refs import secret_ttl
from freightliner.settings import Settings


def aws_credential_source(settings: Settings) -> CredentialSource | None:
    """A role assumed with this instance's Google ID token, or keys in a secret; None: the
    default chain. Nothing is read until the first AWS call is signed."""
    if settings.aws_role_arn:
        from freightliner.adapters.aws.credential_sources import WebIdentityRole  # noqa: PLC0415
        from freightliner.adapters.gcp import google_credentials  # noqa: PLC0415

        audience = settings.aws_web_identity_audience
        return WebIdentityRole(
            settings.aws_role_arn,
            settings.region,
            lambda: google_credentials.identity_token(audience),
        )
    if settings.aws_credentials:
        from freightliner.adapters.aws.credential_sources import ReferencedKeys  # noqa: PLC0415
        from freightliner.adapters.credential_refs import ReferenceResolver  # noqa: PLC0415
        from freightliner.adapters.secret_stores import SecretStores  # noqa: PLC0415

        # Its own resolver and stores: an aws-sm:// reference is read with the default chain,
        # never with the keys it holds.
        resolver = ReferenceResolver(SecretStores(AwsClients()).for_reference, ttl=secret_ttl())
        return ReferencedKeys(resolver, settings.aws_credentials)
    return None


def aws_clients(settings: Settings) -> AwsClients:
    """The boto3 clients every runtime shares, signed as `settings` say."""
    return AwsClients(aws_credential_source(settings), settings.aws_retry_mode)
