"""Configuring the functions' own AWS credentials: the keys JSON and its errors, the
settings that choose a source, and keys read through a `file://` reference (rotation by
`forget`). No network: nothing here signs a request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freightliner.adapters.aws.credential_sources import ReferencedKeys, WebIdentityRole
from freightliner.adapters.credential_refs import ReferenceResolver
from freightliner.bootstrap.aws_session import aws_credential_source
from freightliner.domain.errors import ConfigurationError, InvalidInput
from freightliner.domain.secrets import AwsKeys, Redacted, SecretRef
from freightliner.ports.secrets import SecretStore
from freightliner.settings import Settings

SENTINEL = "S3NTINEL-aws-secret-key"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def test_keys_json_with_and_without_a_session_token() -> None:
    keys = AwsKeys.from_json(
        Redacted(json.dumps({"access_key_id": KEY_ID, "secret_access_key": SENTINEL})), "x"
    )
    assert keys.access_key_id == KEY_ID
    assert keys.secret_access_key.get_secret_value() == SENTINEL
    assert keys.session_token is None
    assert SENTINEL not in repr(keys) and SENTINEL not in keys.model_dump_json()
    temporary = AwsKeys.from_json(
        Redacted(
            json.dumps(
                {"access_key_id": KEY_ID, "secret_access_key": "s", "session_token": SENTINEL}
            )
        ),
        "x",
    )
    assert temporary.session_token is not None
    assert temporary.session_token.get_secret_value() == SENTINEL


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"access_key_id": KEY_ID, "secret_key": SENTINEL}, "secret_key: Extra inputs"),
        ({"access_key_id": SENTINEL[:8], "secret_access_key": SENTINEL}, "access_key_id: String"),
        ({"access_key_id": KEY_ID, "secret_access_key": [SENTINEL]}, "secret_access_key: Input"),
        ([SENTINEL], "document: Input should be an object"),
        (f"{SENTINEL} not json", "document: Invalid JSON"),
    ],
)
def test_bad_keys_json_names_the_field_never_the_value(document: object, named: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(InvalidInput) as info:
        AwsKeys.from_json(Redacted(text), "gcp-sm://projects/p/secrets/aws")
    message = str(info.value)
    assert named in message and "gcp-sm://projects/p/secrets/aws" in message
    assert SENTINEL not in message and SENTINEL[:8] not in message


def test_settings_choose_a_source_and_never_echo_a_misplaced_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    role = "arn:aws:iam::123456789012:role/gcp-bridge"
    monkeypatch.setenv("FREIGHTLINER_AWS_ROLE_ARN", role)
    settings = Settings.from_env()
    assert settings.aws_web_identity_audience == "sts.amazonaws.com"
    assert isinstance(aws_credential_source(settings), WebIdentityRole)

    monkeypatch.setenv("FREIGHTLINER_AWS_CREDENTIALS", "gcp-sm://projects/p/secrets/aws")
    with pytest.raises(ConfigurationError, match="not both"):
        Settings.from_env()
    monkeypatch.delenv("FREIGHTLINER_AWS_ROLE_ARN")
    assert isinstance(aws_credential_source(Settings.from_env()), ReferencedKeys)

    monkeypatch.setenv("FREIGHTLINER_AWS_CREDENTIALS", json.dumps({"secret": SENTINEL}))
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env()
    assert "not a credential reference" in str(info.value)
    assert SENTINEL not in str(info.value)

    monkeypatch.delenv("FREIGHTLINER_AWS_CREDENTIALS")
    assert aws_credential_source(Settings.from_env()) is None  # the default chain
    monkeypatch.setenv("FREIGHTLINER_AWS_ROLE_ARN", "gcp-bridge")
    with pytest.raises(ConfigurationError, match="not an IAM role ARN"):
        Settings.from_env()


def _no_store(ref: SecretRef) -> SecretStore:
    raise AssertionError(f"{ref} needs no secret store")


def test_keys_from_a_file_are_read_again_only_after_forget(tmp_path: Path) -> None:
    path = tmp_path / "aws.json"
    path.write_text(json.dumps({"access_key_id": KEY_ID, "secret_access_key": "one"}))
    keys = ReferencedKeys(ReferenceResolver(_no_store), SecretRef.parse(f"file://{path}"))
    first = keys.credentials()
    assert first.get_frozen_credentials() == (KEY_ID, "one", None, None)
    path.write_text(
        json.dumps(
            {
                "access_key_id": "ASIAIOSFODNN7EXAMPLE",
                "secret_access_key": "two",
                "session_token": "t",
            }
        )
    )
    assert keys.credentials() is first  # cached for the reference's TTL
    keys.forget()  # AWS refused the key
    assert keys.credentials().get_frozen_credentials() == ("ASIAIOSFODNN7EXAMPLE", "two", "t", None)
