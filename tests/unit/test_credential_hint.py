"""What an authentication failure adds: the credential source used for the registry."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from freightliner.cli.registry_access import credential_hint
from freightliner.domain.errors import Forbidden, NotFound, Unauthorized, Where

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GAR = "us-docker.pkg.dev"


def refused(host: str) -> Unauthorized:
    return Unauthorized("authentication failed (HTTP 401)", Where(registry=host))


@pytest.fixture(autouse=True)
def _no_auth_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_RUNTIME_DIR", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FREIGHTLINER_DEST_CREDS", raising=False)


def test_cloud_registries_name_their_cloud_credentials() -> None:
    args = argparse.Namespace(registries=None, authfile=None)
    assert "ECR token from the AWS credential chain" in str(credential_hint(args, refused(ECR)))
    assert "Google credentials" in str(credential_hint(args, Forbidden("no", Where(GAR))))


def test_the_environment_variable_is_named_when_it_gave_the_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FREIGHTLINER_DEST_CREDS", "u:p")
    args = argparse.Namespace(
        source="ghcr.io/o/app:v1", destination="quay.io/o/app:v1", dest_creds=None
    )
    hint = str(credential_hint(args, refused("quay.io")))
    assert hint.startswith("quay.io: the credentials given by $FREIGHTLINER_DEST_CREDS")
    assert "u:p" not in hint


def test_other_errors_get_no_hint() -> None:
    args = argparse.Namespace()
    assert credential_hint(args, NotFound("gone", Where(registry="ghcr.io"))) is None
    assert credential_hint(args, Unauthorized("no host")) is None
