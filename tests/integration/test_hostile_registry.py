"""A registry is untrusted input: real registries behind a fault-injecting proxy, and a capture
server standing for the stranger a hostile registry points the client at.

Each test names the defect of issue 11 it covers: credentials sent to foreign hosts (1) and to
a plain-HTTP realm (2), unbounded manifests (3), looping pagination (4), a trickling source
(5), wrong blame and exit codes (9), token endpoint failures treated as permanent (12).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.cli.main import main
from freightliner.domain.digest import Digest
from freightliner.domain.errors import Timeout, Unauthorized, Unavailable, Unsupported, Where
from freightliner.domain.reference import Reference
from freightliner.domain.registries import Registries, RegistryConfig, TransferLimits
from freightliner.domain.retry import RetryPolicy
from freightliner.domain.secrets import Redacted
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyOptions, CopyReport
from freightliner.harness.images import OCI_MANIFEST, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry, TokenAuthSettings
from freightliner.ports.credentials import Credential
from freightliner.registry import client as client_module
from freightliner.registry.auth import RegistryAuth
from tests.conftest import AuthRegistry
from tests.support.capture_server import CaptureServer, Route, capture_server
from tests.support.faulty_proxy import FaultyProxy, start_proxy
from tests.support.skopeo import skopeo_digest
from tests.support.token_server import ISSUER, SERVICE, start_token_server

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
BOGUS = "sha256:" + "0" * 64


def container(
    *configs: RegistryConfig,
    creds: dict[str, tuple[str, str]] | None = None,
    retry: RetryPolicy = FAST,
) -> RegistryClients:
    credentials = {
        host: Credential(username=user, password=Redacted(password))
        for host, (user, password) in (creds or {}).items()
    }
    return RegistryClients(Registries(list(configs)), credentials, retry=retry)


def copy(box: RegistryClients, src: str, dst: str) -> CopyReport:
    try:
        with Copier(box, CopyOptions()) as copier:
            return copier.copy(Reference.parse(src), Reference.parse(dst))
    finally:
        box.close()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def proxied(registry: LocalRegistry) -> Iterator[tuple[FaultyProxy, str]]:
    """A proxy in front of the open `registry` (the source, mostly)."""
    fake, host, stop = start_proxy(registry.url, record=True)
    yield fake, host
    stop()


@pytest.fixture
def proxied_basic(basic_registry: AuthRegistry) -> Iterator[tuple[FaultyProxy, str]]:
    fake, host, stop = start_proxy(basic_registry.registry.url, record=True)
    yield fake, host
    stop()


@pytest.fixture
def stranger() -> Iterator[CaptureServer]:
    with capture_server() as server:
        yield server


def _blob_path(digest: str) -> str:
    return f"/blobs/{digest}"


# -- 1: follow-up URLs on another origin are requested without credentials -------------------


def test_upload_location_on_another_origin_gets_no_credentials(
    registry: LocalRegistry,
    basic_registry: AuthRegistry,
    proxied_basic: tuple[FaultyProxy, str],
    stranger: CaptureServer,
) -> None:
    fake, dest = proxied_basic
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(1, 20_000)])
    header = basic(*basic_registry.creds)
    fake.fail(
        lambda m, p: m == "POST" and "/blobs/uploads/" in p,
        202,
        1,
        headers={"Location": f"{stranger.url}/v2/mirror/app/blobs/uploads/stolen"},
        header=("authorization", header),  # the registry's own requests carry credentials
    )
    box = container(creds={dest: basic_registry.creds})
    report = copy(box, f"{registry.host}/team/app:v1", f"{dest}/mirror/app:v1")
    assert report.digest == image.digest  # the stranger's 503 was retried through the registry
    assert [c.method for c in stranger.captured] == ["PUT"]
    assert stranger.authorizations() == []
    assert fake.faults[0].hits == 1


def test_link_and_redirect_to_another_origin_get_no_credentials(
    basic_registry: AuthRegistry,
    proxied_basic: tuple[FaultyProxy, str],
    stranger: CaptureServer,
) -> None:
    fake, host = proxied_basic
    with Pusher(basic_registry.registry.url, auth=basic_registry.creds) as pusher:
        pusher.image("team/app", "v1", [b"layer"])
    stranger.route("/v2/team/app/tags/list", Route(body=b'{"tags": ["from-stranger"]}'))
    stranger.route("/blob", Route(body=b"hello"))
    fake.fail(
        lambda m, p: "/tags/list" in p,
        200,
        1,
        body=json.dumps({"name": "team/app", "tags": ["v1"]}).encode(),
        headers={
            "Content-Type": "application/json",
            "Link": f'<{stranger.url}/v2/team/app/tags/list?last=v1>; rel="next"',
        },
    )
    hello = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    fake.fail(lambda m, p: p.endswith(hello), 307, 1, headers={"Location": f"{stranger.url}/blob"})
    box = container(creds={host: basic_registry.creds})
    client = box.client(host)
    assert client.head_manifest("team/app", "v1") is not None  # learns the challenge
    assert list(client.list_tags("team/app")) == ["v1", "from-stranger"]
    assert client.get_blob("team/app", Digest.parse(hello)) == b"hello"
    box.close()
    tags_request = next(r for r in fake.recorded if "/tags/list" in r.path)
    assert tags_request.headers.get("authorization") == basic(*basic_registry.creds)
    assert len(stranger.captured) == 2 and stranger.authorizations() == []


# -- 2: the password goes to a token realm only over HTTPS (or between loopback hosts) -------


def _outside_address() -> str | None:
    """This machine's address on its default route, if it has one that is not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            address = str(sock.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_plain_http_realm_on_another_host_never_gets_the_password(
    registry: LocalRegistry,
    basic_registry: AuthRegistry,
    proxied_basic: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, dest = proxied_basic
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [b"layer"])
    outside = _outside_address()
    with capture_server(outside or "127.0.0.1") as realm_host:
        realm = f"{realm_host.url}/token" if outside else "http://tokens.example.invalid/token"
        fake.fail(
            lambda m, p: True,
            401,
            100,
            headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="registry"'},
        )
        code, out = run_cli(
            capsys,
            "copy",
            f"{registry.host}/team/app:v1",
            f"{dest}/mirror/app:v1",
            "--dest-creds",
            basic_registry.user_pass,
        )
        assert code == 4, out
        assert "refusing to send the credentials" in out and realm in out
        assert basic_registry.password not in out
        assert realm_host.captured == []


def test_realm_rules_for_tls_and_loopback_registries() -> None:
    def check(endpoint: str, realm: str) -> None:
        auth = RegistryAuth("registry.example", _NoCredentials(), httpx.Client())
        auth.bind(endpoint)
        auth._check_realm(realm, Where("registry.example"))

    check("https://registry.example", "https://auth.example/token")  # HTTPS anywhere
    check("http://127.0.0.1:5000", "http://127.0.0.1:5001/token")  # loopback to loopback
    check("http://registry.internal", "http://registry.internal:8080/token")  # its own host
    for endpoint, realm in [
        ("https://registry.example", "http://registry.example/token"),  # a downgrade
        ("https://registry.example", "http://127.0.0.1/token"),
        ("http://127.0.0.1:5000", "http://auth.example/token"),
        ("https://registry.example", "ftp://auth.example/token"),
    ]:
        with pytest.raises(Unauthorized, match="refusing to send the credentials"):
            check(endpoint, realm)


class _NoCredentials:
    def get(self, registry: str) -> Credential | None:
        return None

    def invalidate(self, registry: str) -> None:
        return None


# -- 3: manifests are read to a limit ---------------------------------------------------------


def test_oversized_manifests_are_refused_unread(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    proxied: tuple[FaultyProxy, str],
    stranger: CaptureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, source = proxied
    fake.fail(
        lambda m, p: "/manifests/huge" in p,
        200,
        10,
        body=b" " * (5 * 1024 * 1024),
        headers={"Content-Type": OCI_MANIFEST},
    )
    code, out = run_cli(
        capsys, "copy", f"{source}/team/app:huge", f"{dest_registry.host}/mirror/a:b"
    )
    assert code == 7 and "larger than the limit of 4194304 bytes" in out, out
    # A body that never ends (no Content-Length) is cut off at the limit too.
    stranger.route("/v2/team/app/manifests/", Route(endless=True))
    box = container()
    with pytest.raises(Unsupported, match="larger than the limit"):
        box.client(stranger.host).get_manifest("team/app", "endless")
    box.close()
    # The limit is the registries config's to change.
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/wide", "v1", [f"layer {n}".encode() for n in range(40)])
    assert len(image.data) > 4096
    small = RegistryConfig(host=registry.host, limits=TransferLimits(max_manifest_bytes=4096))
    with pytest.raises(Unsupported, match="max_manifest_bytes"):
        copy(container(small), f"{registry.host}/team/wide:v1", f"{dest_registry.host}/mirror/w:v1")
    report = copy(container(), f"{registry.host}/team/wide:v1", f"{dest_registry.host}/mirror/w:v1")
    assert report.digest == image.digest


# -- 4: pagination ends ------------------------------------------------------------------------


def test_a_link_back_to_a_seen_page_stops_with_a_clear_error(
    proxied: tuple[FaultyProxy, str],
    stranger: CaptureServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, source = proxied
    fake.fail(
        lambda m, p: "/tags/list" in p,
        200,
        100,
        body=b'{"tags": ["a"]}',
        headers={"Link": '</v2/team/app/tags/list?n=1000>; rel="next"'},
    )
    code, out = run_cli(capsys, "tags", f"{source}/team/app")
    assert code == 7 and "pagination loops" in out, out
    assert fake.faults[0].hits == 1  # the loop was seen at the first repeated URL
    # Pages that always link to a new one end at the page cap.
    monkeypatch.setattr(client_module, "MAX_PAGES", 20)
    stranger.route("/v2/_catalog", Route(body=b'{"repositories": ["r"]}', paginate=True))
    box = container()
    with pytest.raises(Unsupported, match="more than 20 pages"):
        list(box.client(stranger.host).catalog())
    box.close()
    assert len(stranger.captured) == 20


# -- 5: every transfer has deadlines and a throughput floor ----------------------------------


def _slow_source(host: str) -> RegistryConfig:
    limits = TransferLimits(min_bytes_per_second=2000, throughput_window=1.0, read_timeout=5.0)
    return RegistryConfig(host=host, limits=limits)


def test_a_trickling_source_is_retried_then_fails_as_temporary(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    proxied: tuple[FaultyProxy, str],
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(3, 30_000)])
    layer = image.blobs[1]
    stall = fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 1, trickle=0.2)
    report = copy(
        container(_slow_source(source)),
        f"{source}/team/app:v1",
        f"{dest_registry.host}/mirror/a:v1",
    )
    assert report.digest == image.digest and stall.hits == 1  # stalled once, then retried
    fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 100, trickle=0.2)
    with pytest.raises(Timeout) as info:
        copy(
            container(_slow_source(source)),
            f"{source}/team/app:v1",
            f"{dest_registry.host}/mirror/b:v1",
        )
    assert info.value.exit_code == 75
    message = str(info.value)
    assert "stalled" in message and f"GET blob {source}/team/app" in message
    assert fake.faults[1].hits == FAST.attempts


def test_a_silent_source_hits_the_read_deadline(
    registry: LocalRegistry, dest_registry: LocalRegistry, proxied: tuple[FaultyProxy, str]
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(4, 1000)])
    fake.tamper(lambda m, p: m == "GET" and p.endswith(image.blobs[1]), 1, trickle=3.0)
    config = RegistryConfig(host=source, limits=TransferLimits(read_timeout=0.5))
    report = copy(container(config), f"{source}/team/app:v1", f"{dest_registry.host}/mirror/a:v1")
    assert report.digest == image.digest and fake.faults[0].hits == 1


# -- 12: token endpoint failures are retried like registry failures --------------------------


@pytest.fixture
def flaky_tokens(tmp_path: Path) -> Iterator[tuple[AuthRegistry, FaultyProxy]]:
    """A token-auth registry whose realm is reached through a fault-injecting proxy."""
    password = "token-flaky"
    tokens = start_token_server(tmp_path, "bob", password)
    fake, host, stop = start_proxy(tokens.url)
    settings = TokenAuthSettings(f"http://{host}/token", SERVICE, ISSUER, tokens.cert_path)
    try:
        with LocalRegistry(token_auth=settings) as reg:
            yield AuthRegistry(reg, "bob", password, tokens), fake
    finally:
        stop()
        tokens.stop()


def test_token_endpoint_failures_are_retried_then_temporary(
    registry: LocalRegistry, flaky_tokens: tuple[AuthRegistry, FaultyProxy]
) -> None:
    dest, fake = flaky_tokens
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    host = dest.registry.host
    fake.fail(lambda m, p: p.startswith("/token"), 503, 1)
    fake.fail(lambda m, p: p.startswith("/token"), 0, 1)  # connection dropped
    report = copy(
        container(creds={host: dest.creds}, retry=RetryPolicy(attempts=4, base_delay=0.01)),
        f"{registry.host}/team/app:v1",
        f"{host}/mirror/app:v1",
    )
    assert report.digest == image.digest
    assert [f.hits for f in fake.faults] == [1, 1]
    fake.fail(lambda m, p: p.startswith("/token"), 503, 100)
    with pytest.raises(Unavailable, match=r"token service .* answered HTTP 503") as info:
        copy(
            container(creds={host: dest.creds}),
            f"{registry.host}/team/app:v1",
            f"{host}/mirror/x:v1",
        )
    assert info.value.exit_code == 75


ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GET_TOKEN = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"


def test_ecr_token_failures_are_retried(
    registry: LocalRegistry, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    fake, host, stop = start_proxy(moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries off: ours are tested
    fake.fail(lambda m, p: m == "POST", 500, 2, header=("x-amz-target", GET_TOKEN))
    try:
        with LocalRegistry(basic_auth=("AWS", "123456789012-auth-token")) as ecr:
            box = container(RegistryConfig(host=ECR, endpoint=ecr.url))
            report = copy(box, f"{registry.host}/team/app:v1", f"{ECR}/mirror/app:v1")
    finally:
        stop()
    assert report.digest == image.digest
    assert fake.faults[0].hits == 2 and box.credentials.ecr_provider.api_calls == 3
    repositories = boto3.client("ecr", endpoint_url=moto_endpoint).describe_repositories()
    assert [r["repositoryName"] for r in repositories["repositories"]] == ["mirror/app"]


# -- 9: errors are blamed on the side and step that failed, with the documented codes --------


def test_a_source_cut_short_is_a_source_read_failure(
    registry: LocalRegistry, dest_registry: LocalRegistry, proxied: tuple[FaultyProxy, str]
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(5, 50_000)])
    layer = image.blobs[1]
    fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 1, cut_at=1000)
    report = copy(container(), f"{source}/team/app:v1", f"{dest_registry.host}/mirror/a:v1")
    assert report.digest == image.digest  # a reset is retried
    fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 100, cut_at=1000)
    with pytest.raises(Unavailable) as info:
        copy(container(), f"{source}/team/app:v1", f"{dest_registry.host}/mirror/b:v1")
    message = str(info.value)
    assert f"GET blob {source}/team/app@{layer}" in message, message
    assert "PUT blob" not in message and dest_registry.host not in message


def test_a_corrupted_blob_transfer_is_retried_and_blamed_on_the_source(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    proxied: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(6, 50_000)])
    layer = image.blobs[1]
    fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 1, corrupt=True)
    report = copy(container(), f"{source}/team/app:v1", f"{dest_registry.host}/mirror/a:v1")
    assert report.digest == image.digest
    fake.tamper(lambda m, p: m == "GET" and p.endswith(layer), 100, corrupt=True)
    code, out = run_cli(
        capsys, "copy", f"{source}/team/app:v1", f"{dest_registry.host}/mirror/b:v1"
    )
    assert code == 5 and "digest_mismatch" in out and f"GET blob {source}" in out, out
    assert fake.faults[1].hits == 2  # corrupted twice: retried once, then refused
    assert httpx.head(f"{dest_registry.url}/v2/mirror/b/blobs/{layer}").status_code == 404


def test_a_corrupt_child_manifest_is_a_digest_mismatch(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    proxied: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1", platforms=("linux/amd64", "linux/arm64"))
    child = index.children[1].digest
    fake.tamper(lambda m, p: m == "GET" and p.endswith(f"/manifests/{child}"), 100, corrupt=True)
    code, out = run_cli(
        capsys, "copy", f"{source}/team/app:v1", f"{dest_registry.host}/mirror/a:v1"
    )
    assert code == 5 and "digest_mismatch" in out and child in out, out


def test_a_permanent_401_on_upload_after_one_refresh_exits_4(
    registry: LocalRegistry,
    basic_registry: AuthRegistry,
    proxied_basic: tuple[FaultyProxy, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, dest = proxied_basic
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(7, 10_000)])
    refused = fake.fail(
        lambda m, p: m == "PUT" and "/blobs/uploads/" in p,
        401,
        100,
        headers={"WWW-Authenticate": 'Basic realm="registry"'},
    )
    code, out = run_cli(
        capsys,
        "copy",
        f"{registry.host}/team/app:v1",
        f"{dest}/mirror/app:v1",
        "--dest-creds",
        basic_registry.user_pass,
    )
    assert code == 4 and "authentication failed (HTTP 401)" in out, out
    assert "PUT blob" in out
    # Two blobs in parallel, each: refused, restarted once with refreshed credentials, refused.
    assert refused.hits <= 4


def test_a_destination_lying_about_the_pushed_digest(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    fake, dest, stop = start_proxy(dest_registry.url)
    try:
        fake.tamper(
            lambda m, p: m == "PUT" and "/manifests/v1" in p,
            1,
            headers={"Docker-Content-Digest": BOGUS},
        )
        code, out = run_cli(capsys, "copy", f"{registry.host}/team/app:v1", f"{dest}/mirror/a:v1")
        assert code == 0, out  # the tag landed with our digest: the header is ignored
        head = httpx.head(
            f"{dest_registry.url}/v2/mirror/a/manifests/v1", headers={"Accept": OCI_MANIFEST}
        )
        assert head.headers["Docker-Content-Digest"] == image.digest
        # A registry that says "stored" but holds nothing: a clear conflict, never exit 5.
        fake.fail(
            lambda m, p: m == "PUT" and "/manifests/" in p,
            201,
            1,
            headers={"Docker-Content-Digest": BOGUS},
        )
        code, out = run_cli(capsys, "copy", f"{registry.host}/team/app:v1", f"{dest}/mirror/b:v1")
        assert code == 6 and "the reference holds nothing" in out, out
    finally:
        stop()


def test_stalled_transfer_exits_75_from_the_cli(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    proxied: tuple[FaultyProxy, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, source = proxied
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(8, 30_000)])
    fake.tamper(lambda m, p: m == "GET" and p.endswith(image.blobs[1]), 100, trickle=0.2)
    config = tmp_path / "registries.yaml"
    config.write_text(
        f"registries:\n  - host: {source}\n    limits:\n      min_bytes_per_second: 2000\n"
        "      throughput_window: 0.5\n"
    )
    code, out = run_cli(
        capsys,
        "copy",
        f"{source}/team/app:v1",
        f"{dest_registry.host}/mirror/a:v1",
        "--registries",
        str(config),
    )
    assert code == 75 and "stalled" in out and "GET blob" in out, out


def test_a_destination_refusing_the_digest_is_retried_then_a_mismatch(
    registry: LocalRegistry,
    dest_registry: LocalRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No metadata cache: the second copy would mount the first's blobs instead of uploading.
    monkeypatch.setenv("FREIGHTLINER_METADATA_CACHE", "off")
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [RandomBlob(9, 20_000)])
    fake, dest, stop = start_proxy(dest_registry.url)
    refusal = json.dumps({"errors": [{"code": "DIGEST_INVALID", "message": "mismatch"}]})

    def blob_put(method: str, path: str) -> bool:
        return method == "PUT" and "/blobs/uploads/" in path

    try:
        upload = fake.fail(blob_put, 400, 1, body=refusal.encode())
        code, out = run_cli(capsys, "copy", f"{registry.host}/team/app:v1", f"{dest}/mirror/a:v1")
        assert code == 0 and upload.hits == 1, out  # bytes damaged on the way: sent again
        fake.fail(
            lambda m, p: m == "PUT" and "/blobs/uploads/" in p, 400, 100, body=refusal.encode()
        )
        code, out = run_cli(capsys, "copy", f"{registry.host}/team/app:v1", f"{dest}/mirror/b:v1")
        assert code == 5 and "DIGEST_INVALID" in out and f"PUT blob {dest}/mirror/b" in out, out
    finally:
        stop()
    assert skopeo_digest(f"{dest_registry.host}/mirror/a:v1") == image.digest
