"""Pure parsing: challenges, scopes, platforms, manifests, the registries config."""

import json
from pathlib import Path

import pytest

from freightliner.domain import mediatypes as mt
from freightliner.domain.errors import InvalidInput, Unsupported
from freightliner.domain.manifest import parse_manifest
from freightliner.domain.platform import Platform
from freightliner.domain.registries import AuthKind, Registries, TlsMode
from freightliner.registry.challenge import parse_challenge, scopes_for


def test_bearer_challenge_with_quoted_params() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/alpine:pull",
    }
    basic = parse_challenge('Basic realm="https://123.dkr.ecr.us-east-1.amazonaws.com/"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("") is None


def test_scopes_follow_method_and_mount_source() -> None:
    assert scopes_for("GET", "/v2/team/app/manifests/v1", None) == ("repository:team/app:pull",)
    assert scopes_for("PUT", "/v2/team/app/blobs/uploads/x", None) == (
        "repository:team/app:pull,push",
    )
    assert scopes_for("POST", "/v2/b/blobs/uploads/", "a/src") == (
        "repository:b:pull,push",
        "repository:a/src:pull",
    )
    assert scopes_for("GET", "/v2/_catalog", None) == ("registry:catalog:*",)
    assert scopes_for("GET", "/v2/", None) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/x86_64", "linux/amd64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/armv7l", "linux/arm/v7"),
        ("linux/armhf", "linux/arm/v7"),
        ("Linux/AMD64", "linux/amd64"),
    ],
)
def test_platform_aliases(text: str, expected: str) -> None:
    assert str(Platform.parse(text)) == expected


def test_platform_matching_and_errors() -> None:
    assert Platform.parse("linux/arm64").matches("linux", "arm64", "v8")
    assert Platform.parse("linux/arm").matches("linux", "arm", "v7")
    assert not Platform.parse("linux/arm/v6").matches("linux", "arm", "v7")
    with pytest.raises(InvalidInput, match="os/arch"):
        Platform.parse("amd64")


def test_manifest_media_type_rules() -> None:
    oci = {
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 2,
        },
        "layers": [],
    }
    parsed = parse_manifest(json.dumps(oci).encode(), mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST and not parsed.is_index
    with pytest.raises(Unsupported, match="schema 1"):
        parse_manifest(b'{"schemaVersion": 1, "name": "x"}', mt.DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(Unsupported, match="unknown manifest media type"):
        parse_manifest(
            json.dumps({**oci, "mediaType": "application/vnd.example+json"}).encode(), None
        )
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_manifest(b"{nope", mt.OCI_MANIFEST)
    with pytest.raises(InvalidInput, match="config"):
        parse_manifest(json.dumps({"schemaVersion": 2, "layers": []}).encode(), mt.OCI_MANIFEST)


def test_registries_config_defaults_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text(
        "registries:\n"
        "  - host: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n"
        "    endpoint: http://127.0.0.1:5001\n"
        "  - host: registry.example.com\n"
        "    tls: insecure\n"
        "    auth: {kind: basic, username: bob, password_env: REG_PASS}\n"
    )
    registries = Registries.load(path)
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert registries.endpoint(ecr) == "http://127.0.0.1:5001"
    assert registries.tls(ecr) is TlsMode.PLAIN_HTTP
    assert registries.auth_kind(ecr) is AuthKind.ECR
    assert registries.tls("registry.example.com") is TlsMode.INSECURE
    assert registries.auth_kind("registry.example.com") is AuthKind.BASIC
    assert registries.endpoint("localhost:5000") == "http://localhost:5000"
    assert registries.endpoint("ghcr.io") == "https://ghcr.io"
    assert registries.endpoint("docker.io") == "https://registry-1.docker.io"
    assert registries.auth_kind("europe-docker.pkg.dev") is AuthKind.GAR


def test_registries_config_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "registries.yaml"
    path.write_text("registries:\n  - host: ghcr.io\n    tls: maybe\n")
    with pytest.raises(InvalidInput, match=r"registries\.0\.tls"):
        Registries.load(path)
    with pytest.raises(InvalidInput, match="cannot read"):
        Registries.load(tmp_path / "missing.yaml")
