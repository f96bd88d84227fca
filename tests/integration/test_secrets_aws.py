"""`freightliner secrets` on AWS Secrets Manager, through moto in server mode: create and new
versions, stages, the 64 KiB limit, JSON checks, deletion with and without a recovery window,
and the audit events."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from freightliner.cli.main import main

VALUE_1 = "first-S3NTINEL-value"
VALUE_2 = "second-S3NTINEL-value"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["secrets", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_put_creates_then_adds_versions_and_get_reads_versions_and_stages(
    moto_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = tmp_path / "v1"
    first.write_text(VALUE_1)
    code, out, err = run_cli(capsys, "put", "registry/hub", "--value-file", str(first), "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["stored"] == "registry/hub" and created["stages"] == ["AWSCURRENT"]

    monkeypatch.setattr("sys.stdin", io.StringIO(VALUE_2))
    code, out, err = run_cli(capsys, "put", "registry/hub", "--stdin", "--json")
    assert code == 0, err
    second = json.loads(out)
    assert second["version"] != created["version"]

    code, out, _ = run_cli(capsys, "get", "registry/hub")
    assert code == 0 and "[REDACTED]" in out and "S3NTINEL" not in out
    assert second["version"] in out and "AWSCURRENT" in out
    code, out, _ = run_cli(capsys, "get", "registry/hub", "--reveal")
    assert (code, out) == (0, VALUE_2)
    code, out, _ = run_cli(capsys, "get", "registry/hub", "--stage", "AWSPREVIOUS", "--reveal")
    assert (code, out) == (0, VALUE_1)
    code, out, _ = run_cli(capsys, "get", "registry/hub", "--version", created["version"], "--json")
    shown = json.loads(out)
    assert shown["value"] == "[REDACTED]" and shown["stages"] == ["AWSPREVIOUS"]

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    versions = sm.list_secret_version_ids(SecretId="registry/hub")["Versions"]
    assert len(versions) == 2
    code, out, _ = run_cli(capsys, "list", "--json")
    assert [s["name"] for s in json.loads(out)] == ["registry/hub"]


def test_put_json_is_checked_and_values_over_64_kib_are_refused_before_any_call(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"password": "S3NTINEL-in-bad-json",')
    code, _, err = run_cli(capsys, "put", "bad", "--json-file", str(broken))
    assert code == 2 and "not valid JSON" in err and "line 1" in err
    assert "S3NTINEL" not in err

    big = tmp_path / "big"
    big.write_text("x" * (64 * 1024 + 1))
    code, _, err = run_cli(capsys, "put", "big", "--value-file", str(big))
    assert code == 2
    assert "65537 bytes" in err and "at most 65536 bytes (64 KiB)" in err
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    assert sm.list_secrets()["SecretList"] == []  # nothing reached the store

    big.write_text("x" * (64 * 1024))
    code, _, err = run_cli(capsys, "put", "big", "--value-file", str(big))
    assert code == 0, err
    good = tmp_path / "good.json"
    good.write_text('{"username": "ci", "password": "p"}')
    code, _, err = run_cli(capsys, "put", "hub", "--json-file", str(good))
    assert code == 0, err
    assert json.loads(sm.get_secret_value(SecretId="hub")["SecretString"])["username"] == "ci"


def test_delete_keeps_a_recovery_window_unless_forced(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = tmp_path / "v"
    value.write_text(VALUE_1)
    for name in ("kept", "gone"):
        assert run_cli(capsys, "put", name, "--value-file", str(value))[0] == 0

    code, out, err = run_cli(capsys, "delete", "kept", "--recovery-days", "7", "--json")
    assert code == 0, err
    assert json.loads(out)["recoverable_until"] is not None
    code, _, err = run_cli(capsys, "get", "kept")
    assert code == 2 and "scheduled for deletion" in err and "restore" in err
    code, out, _ = run_cli(capsys, "list")
    assert "kept" in out and "deleted on" in out
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.restore_secret(SecretId="kept")  # the window is real: the secret comes back
    assert run_cli(capsys, "get", "kept", "--reveal")[1] == VALUE_1

    code, out, err = run_cli(capsys, "delete", "gone", "--force", "--json")
    assert code == 0, err
    assert json.loads(out)["recoverable_until"] is None
    with pytest.raises(ClientError):
        sm.restore_secret(SecretId="gone")
    code, _, err = run_cli(capsys, "get", "gone")
    assert code == 3 and "secret 'gone' not found in AWS Secrets Manager (us-east-1)" in err
    code, _, err = run_cli(capsys, "delete", "kept", "--recovery-days", "3")
    assert code == 2 and "7 to 30 days" in err
    code, _, err = run_cli(capsys, "delete", "kept", "--version", "abc")
    assert code == 2 and "whole secrets" in err


def test_every_write_and_delete_is_audited_without_the_value(
    moto_endpoint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = tmp_path / "v"
    value.write_text(VALUE_1)
    with caplog.at_level(logging.INFO, logger="freightliner.audit"):
        assert run_cli(capsys, "put", "audited", "--value-file", str(value))[0] == 0
        assert run_cli(capsys, "get", "audited", "--reveal")[0] == 0  # reads are not audited
        assert run_cli(capsys, "delete", "audited", "--force")[0] == 0
        assert run_cli(capsys, "delete", "never-was")[0] == 3
    events = [r for r in caplog.records if r.name == "freightliner.audit"]
    assert [(r.detail["operation"], r.outcome) for r in events] == [  # type: ignore[attr-defined]
        ("put", "success"),
        ("force-delete", "success"),
        ("delete", "not_found"),
    ]
    for record in events:
        fields = vars(record)
        assert fields["audit"] == "secret_write" and fields["log_type"] == "AUDIT"
        assert fields["detail"]["store"] == "aws:us-east-1"
        assert fields["trigger"]["principal"].startswith("arn:aws:")  # sts:GetCallerIdentity
        assert fields["time"].endswith("Z") or "+00:00" in fields["time"]
        assert fields["detail"]["secret"] in ("audited", "never-was")
        assert fields["destination"] == f"aws:us-east-1/{fields['detail']['secret']}"
    assert events[0].detail["version"]  # type: ignore[attr-defined]
    assert VALUE_1 not in caplog.text
