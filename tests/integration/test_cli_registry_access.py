"""How the CLI reaches registries: auth files where podman and skopeo keep them, `--authfile`,
per-side TLS flags, and what an authentication failure says. Real registries, real CLI."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import yaml

from freightliner.adapters.local.static_creds import auth_file_locations
from freightliner.cli.main import main
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from tests.conftest import AuthRegistry
from tests.support.capture_server import Route, capture_server
from tests.support.skopeo import skopeo_digest
from tests.support.tls_registry import TlsRegistry


def auth_json(path: Path, host: str, user_pass: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"auth": base64.b64encode(user_pass.encode()).decode()}
    path.write_text(json.dumps({"auths": {host: entry}}))
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home: no auth file anywhere until a test writes one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("FREIGHTLINER_SRC_CREDS", "FREIGHTLINER_DEST_CREDS", "FREIGHTLINER_REGISTRIES"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def pushed(basic_registry: AuthRegistry) -> str:
    with Pusher(basic_registry.registry.url, auth=basic_registry.creds) as pusher:
        pusher.image("team/app", "v1", [b"private layer"])
    return f"{basic_registry.registry.host}/team/app"


def test_podman_auth_json_in_the_runtime_dir_is_used(
    home: Path,
    tmp_path: Path,
    basic_registry: AuthRegistry,
    pushed: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    auth_json(
        tmp_path / "run/containers/auth.json",
        basic_registry.registry.host,
        basic_registry.user_pass,
    )
    assert main(["tags", pushed]) == 0
    assert capsys.readouterr().out.strip() == "v1"


def test_registry_auth_file_wins_and_authfile_wins_over_it(
    home: Path,
    tmp_path: Path,
    basic_registry: AuthRegistry,
    pushed: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = basic_registry.registry.host
    auth_json(tmp_path / "run/containers/auth.json", host, basic_registry.user_pass)
    wrong = auth_json(tmp_path / "wrong.json", host, f"{basic_registry.user}:wrong")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(wrong))
    assert main(["tags", pushed]) == 4  # only $REGISTRY_AUTH_FILE is read when it is set
    err = capsys.readouterr().err
    assert f"the credentials for it in {wrong} were refused" in err
    right = auth_json(tmp_path / "right.json", host, basic_registry.user_pass)
    assert main(["digest", "--authfile", str(right), f"{pushed}:v1"]) == 0
    assert capsys.readouterr().out.strip() == skopeo_digest(f"{pushed}:v1", basic_registry.creds)


def test_copy_reads_both_sides_from_one_authfile(
    home: Path,
    tmp_path: Path,
    basic_registry: AuthRegistry,
    pushed: str,
    dest_registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    authfile = auth_json(
        tmp_path / "auth.json", basic_registry.registry.host, basic_registry.user_pass
    )
    code = main(
        ["copy", "--authfile", str(authfile), f"{pushed}:v1", f"{dest_registry.host}/copy/app:v1"]
    )
    assert code == 0, capsys.readouterr().err
    assert skopeo_digest(f"{dest_registry.host}/copy/app:v1") == skopeo_digest(
        f"{pushed}:v1", basic_registry.creds
    )


def test_auth_failures_say_which_source_was_used_and_where_to_look(
    home: Path, basic_registry: AuthRegistry, pushed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host = basic_registry.registry.host
    assert main(["tags", pushed]) == 4
    none_found = capsys.readouterr().err
    assert f"{host}: no credentials found for it, the request went anonymous" in none_found
    assert "containers/auth.json" in none_found and ".docker/config.json" in none_found

    assert main(["tags", pushed, "--creds", f"{basic_registry.user}:wrong"]) == 4
    given = capsys.readouterr().err
    assert f"{host}: the credentials given by --creds were refused" in given
    assert "wrong" not in given.replace("--creds", "")

    assert main(["copy", f"{pushed}:v1", f"{host}/other:v1", "--src-creds", "a:b"]) == 4
    assert "given by --src-creds were refused" in capsys.readouterr().err


def test_plain_http_flags_override_the_registries_config(
    home: Path,
    tmp_path: Path,
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    config = tmp_path / "registries.yaml"
    config.write_text(
        yaml.safe_dump(
            {"registries": [{"host": h.host, "tls": "verify"} for h in (registry, dest_registry)]}
        )
    )
    src, dst = f"{registry.host}/team/app:v1", f"{dest_registry.host}/team/app:v1"
    started = time.monotonic()
    assert main(["digest", "--registries", str(config), src]) == 75  # HTTPS to a plain server
    assert "SSL" in capsys.readouterr().err
    assert time.monotonic() - started < 60
    assert main(["digest", "--registries", str(config), "--plain-http", src]) == 0
    assert capsys.readouterr().out.strip() == image.digest
    copy = ["copy", "--registries", str(config), src, dst]
    assert main([*copy, "--src-plain-http"]) == 75  # the destination still wants HTTPS
    assert main([*copy, "--src-plain-http", "--dest-plain-http"]) == 0
    assert skopeo_digest(dst) == image.digest
    # and the other way: a loopback host (plain HTTP by default) asked for TLS
    capsys.readouterr()
    assert main(["digest", "--tls-verify=false", f"{registry.host}/team/app:v1"]) == 75


@pytest.mark.parametrize(
    "flags",
    [
        ["--plain-http", "--tls-verify=true"],
        ["--insecure", "--tls-verify=true"],
        ["--tls-verify=maybe"],
    ],
)
def test_contradicting_tls_flags_are_refused_with_exit_2(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["digest", *flags, "127.0.0.1:1/team/app:v1"])
    except SystemExit as exited:
        code = int(str(exited.code))
    assert code == 2
    assert capsys.readouterr().err.count("\n") <= 6


def test_auth_file_locations_follow_podman_and_skopeo(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert auth_file_locations() == [
        tmp_path / "run/containers/auth.json",
        home / ".config/containers/auth.json",
        home / ".docker/config.json",
    ]
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    assert auth_file_locations()[-1] == tmp_path / "docker/config.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "env.json"))
    assert auth_file_locations() == [tmp_path / "env.json"]
    assert auth_file_locations(tmp_path / "flag.json") == [tmp_path / "flag.json"]


def test_identitytoken_entries_are_exchanged_as_refresh_tokens(
    home: Path,
    tmp_path: Path,
    token_registry: AuthRegistry,
    registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert token_registry.tokens is not None
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"layer"])
    host = token_registry.registry.host
    seed = ["copy", f"{registry.host}/team/app:v1", f"{host}/team/app:v1"]
    assert main([*seed, "--dest-creds", token_registry.user_pass]) == 0
    capsys.readouterr()
    entry = {
        "auth": base64.b64encode(b"00000000-0000-0000-0000-000000000000:").decode(),
        "identitytoken": token_registry.tokens.refresh_token,
    }
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {host: entry}}))
    assert main(["tags", "--authfile", str(authfile), f"{host}/team/app"]) == 0
    assert capsys.readouterr().out.strip() == "v1"
    assert token_registry.tokens.refresh_posts >= 1

    entry["identitytoken"] = "refresh-revoked"
    authfile.write_text(json.dumps({"auths": {host: entry}}))
    assert main(["tags", "--authfile", str(authfile), f"{host}/team/app"]) == 4
    err = capsys.readouterr().err
    assert f"the credentials for it in {authfile} were refused" in err
    assert "refresh-revoked" not in err


def test_an_identitytoken_goes_only_to_the_realm_the_registry_names(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The refresh token is POSTed to the checked realm and nowhere else: a realm answering
    307 (which would re-send the form to its target) is not followed."""
    with capture_server() as stranger, capture_server() as registry:
        registry.route(
            "/v2/",
            Route(
                status=401,
                headers={"WWW-Authenticate": f'Bearer realm="{registry.url}/token",service="r"'},
            ),
        )
        registry.route("/token", Route(status=307, headers={"Location": f"{stranger.url}/token"}))
        entry = {"auth": base64.b64encode(b"user:").decode(), "identitytoken": "refresh-secret"}
        authfile = tmp_path / "auth.json"
        authfile.write_text(json.dumps({"auths": {registry.host: entry}}))
        code = main(["tags", "--authfile", str(authfile), f"{registry.host}/team/app"])
        err = capsys.readouterr().err
        assert code == 4, err
        assert "HTTP 307" in err and "refresh-secret" not in err
        assert [c.method for c in registry.captured if c.path == "/token"] == ["POST"]
        assert stranger.captured == []


def test_tls_verify_false_reaches_a_self_signed_registry_that_verification_refuses(
    home: Path, registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    with TlsRegistry() as secure:
        src, dst = f"{registry.host}/team/app:v1", f"{secure.host}/team/app:v1"
        # loopback defaults to plain HTTP: asking for verified TLS meets a self-signed cert
        assert main(["copy", src, dst, "--dest-tls-verify=true"]) == 75
        assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
        assert main(["copy", src, dst, "--dest-tls-verify=false"]) == 0
        capsys.readouterr()
        assert main(["digest", "--insecure", dst]) == 0
        assert capsys.readouterr().out.strip() == image.digest
        assert main(["inspect", "--tls-verify=false", "--raw", dst]) == 0
        assert capsys.readouterr().out.encode() == image.data


def test_one_host_on_both_sides_with_different_tls_flags_is_refused(
    registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = f"{registry.host}/team/app:v1", f"{registry.host}/team/copy:v1"
    assert main(["copy", src, dst, "--src-plain-http", "--dest-tls-verify=false"]) == 2
    assert "both source and destination with different TLS flags" in capsys.readouterr().err
