"""The harness itself, checked with skopeo: what tests seed is what registries serve."""

import hashlib

import httpx

from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry
from tests.conftest import AuthRegistry
from tests.support.skopeo import skopeo_copy, skopeo_digest, skopeo_manifest


def test_seeded_index_reads_back_through_skopeo(registry: LocalRegistry) -> None:
    with Pusher(registry.url) as pusher:
        index = pusher.multi_platform("team/app", "v1")
    assert skopeo_digest(f"{registry.host}/team/app:v1") == index.digest
    platforms = [
        m["platform"]["architecture"]
        for m in skopeo_manifest(f"{registry.host}/team/app:v1")["manifests"]
    ]
    assert platforms == ["amd64", "arm64", "arm"]


def test_random_blobs_are_deterministic_and_sized() -> None:
    blob = RandomBlob(7, 3 * 1024 * 1024 + 5)
    data = b"".join(blob.chunks())
    assert len(data) == blob.size
    assert blob.digest() == "sha256:" + hashlib.sha256(data).hexdigest()
    assert RandomBlob(8, 10).digest() != RandomBlob(7, 10).digest()


def test_basic_auth_registry_needs_its_password(basic_registry: AuthRegistry) -> None:
    url = f"{basic_registry.registry.url}/v2/"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=basic_registry.creds).status_code == 200
    assert httpx.get(url, auth=(basic_registry.user, "wrong")).status_code == 401


def test_token_registry_runs_the_bearer_flow_for_skopeo(
    registry: LocalRegistry, token_registry: AuthRegistry
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("src/app", "v1", [b"layer"])
    anonymous = httpx.get(f"{token_registry.registry.url}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer realm=")
    skopeo_copy(
        f"{registry.host}/src/app:v1",
        f"{token_registry.registry.host}/dst/app:v1",
        dest_creds=token_registry.creds,
    )
    assert (
        skopeo_digest(f"{token_registry.registry.host}/dst/app:v1", token_registry.creds)
        == image.digest
    )
    assert token_registry.tokens is not None and sum(token_registry.tokens.requests.values()) > 0


def test_tampering_with_storage_changes_what_the_registry_serves(registry: LocalRegistry) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"original layer bytes"])
    layer = image.blobs[1]
    path = registry.blob_data_path(layer)
    path.write_bytes(b"tampered layer bytes")
    served = httpx.get(f"{registry.url}/v2/team/app/blobs/{layer}").content
    # distribution 2.8 serves stored bytes without re-hashing them: a client must verify.
    assert served == b"tampered layer bytes"
    assert "sha256:" + hashlib.sha256(served).hexdigest() != layer
