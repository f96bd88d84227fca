"""`freightliner secrets --store gcp`: the Secret Manager REST store on httpx and google-auth
(a service-account key, OAuth JWT grant) against a loopback fake of the Secret Manager and
token endpoints."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain.errors import Forbidden
from freightliner.domain.secrets import SecretRef
from tests.support.google_fake import GoogleFake, serve_google_fake_as_adc

VALUE_1 = "gcp-first-S3NTINEL"
VALUE_2 = "gcp-second-S3NTINEL"


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleFake]:
    yield from serve_google_fake_as_adc(tmp_path, monkeypatch)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["secrets", *args, "--store", "gcp"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_crud_versions_and_destroy_through_the_rest_client(
    google: GoogleFake,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = tmp_path / "v"
    value.write_text(VALUE_1)
    code, out, err = run_cli(capsys, "put", "hub-token", "--value-file", str(value), "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == "1"
    assert ("POST", "/v1/projects/proj/secrets") in google.requests  # created on first put
    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE_2))
    code, out, err = run_cli(capsys, "put", "hub-token", "--stdin", "--json")
    assert code == 0 and json.loads(out)["version"] == "2", err
    assert google.value("proj", "hub-token") == [VALUE_1.encode(), VALUE_2.encode()]

    code, out, _ = run_cli(capsys, "get", "hub-token")
    assert code == 0 and "[REDACTED]" in out and "S3NTINEL" not in out
    assert run_cli(capsys, "get", "hub-token", "--reveal")[1] == VALUE_2
    assert run_cli(capsys, "get", "hub-token", "--version", "1", "--reveal")[1] == VALUE_1
    code, _, err = run_cli(capsys, "get", "hub-token", "--stage", "AWSCURRENT")
    assert code == 2 and "no stages" in err

    for name in ("a-key", "b-key"):  # three secrets: the fake pages them two at a time
        assert run_cli(capsys, "put", name, "--value-file", str(value))[0] == 0
    code, out, _ = run_cli(capsys, "list", "--json")
    assert sorted(s["name"] for s in json.loads(out)) == ["a-key", "b-key", "hub-token"]
    assert any("pageToken" not in p for _, p in google.requests)

    code, out, err = run_cli(capsys, "delete", "hub-token", "--version", "1", "--json")
    assert code == 0 and json.loads(out)["version"] == "1", err
    code, _, err = run_cli(capsys, "get", "hub-token", "--version", "1")
    assert code == 3 and "destroyed" in err
    assert run_cli(capsys, "get", "hub-token", "--reveal")[1] == VALUE_2
    code, _, err = run_cli(capsys, "delete", "hub-token")
    assert code == 2 and "--force" in err and "no recovery window" in err
    assert run_cli(capsys, "delete", "hub-token", "--force")[0] == 0
    code, _, err = run_cli(capsys, "get", "hub-token")
    assert code == 3 and "secret 'hub-token' not found in GCP project proj" in err


def test_oversized_values_never_reach_the_wire(
    google: GoogleFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big"
    big.write_text("é" * (32 * 1024 + 1))  # 65538 bytes in UTF-8
    code, _, err = run_cli(capsys, "put", "big", "--value-file", str(big))
    assert code == 2 and "65538 bytes" in err
    assert google.requests == []


def test_permission_errors_name_the_secret_and_the_permission(
    google: GoogleFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = tmp_path / "v"
    value.write_text(VALUE_1)
    assert run_cli(capsys, "put", "db", "--value-file", str(value))[0] == 0
    google.denied.add(("db", "secretmanager.versions.access"))
    code, out, err = run_cli(capsys, "get", "db", "--reveal")
    assert code == 4 and out == ""
    assert "secret 'db'" in err and "secretmanager.versions.access" in err
    assert "S3NTINEL" not in err
    google.denied.add(("db", "secretmanager.versions.add"))
    code, _, err = run_cli(capsys, "put", "db", "--value-file", str(value))
    assert code == 4 and "secretmanager.versions.add" in err


def test_gcp_sm_references_resolve_versions_and_json_keys(
    google: GoogleFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "hub.json"
    document.write_text(json.dumps({"username": "ci", "password": VALUE_1}))
    assert run_cli(capsys, "put", "hub", "--json-file", str(document))[0] == 0
    document.write_text(json.dumps({"username": "ci", "password": VALUE_2}))
    assert run_cli(capsys, "put", "hub", "--json-file", str(document))[0] == 0

    resolver = RegistryClients().credentials.secret_references
    latest = SecretRef.parse("gcp-sm://projects/proj/secrets/hub#password")
    first = SecretRef.parse("gcp-sm://projects/proj/secrets/hub/versions/1#password")
    assert resolver.resolve(latest).get_secret_value() == VALUE_2
    assert resolver.resolve(first).get_secret_value() == VALUE_1
    google.denied.add(("hub", "secretmanager.versions.access"))
    assert resolver.resolve(latest).get_secret_value() == VALUE_2  # cached: no call
    resolver.invalidate(latest)
    with pytest.raises(Forbidden, match=r"secretmanager\.versions\.access") as info:
        resolver.resolve(latest)
    assert "S3NTINEL" not in str(info.value)
