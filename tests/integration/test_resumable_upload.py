"""Resumable large uploads against the real docker-registry: a copy interrupted between
chunks continues in a new invocation (fresh clients) from the registry's reported offset,
sends only the bytes the registry lacks, and lands the exact digest; a session the registry
has forgotten, or one recorded on another origin, starts over."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import httpx
import pytest

from freightliner.adapters.memory.uploads import MemoryUploadSessions
from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.reference import Reference
from freightliner.domain.registries import Registries, RegistryConfig
from freightliner.domain.uploads import UploadOwner, UploadPaused, UploadSession
from freightliner.engine.copying.copy import Copier
from freightliner.engine.copying.models import CopyReport
from freightliner.engine.copying.resumable import Resumable
from freightliner.harness.images import Pushed, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry, free_port
from freightliner.ports.progress import NullProgress

CHUNK = 1024 * 1024  # the smallest chunk the registries config allows
LAYER = RandomBlob(7, 6 * CHUNK + 12345)
OWNER = UploadOwner("job-1", "item-1")


class Sent(NullProgress):
    """Bytes the destination acknowledged, as the copier reports them."""

    def __init__(self) -> None:
        self.bytes = 0
        self._lock = threading.Lock()

    def bytes_moved(self, count: int) -> None:
        with self._lock:
            self.bytes += count


class Invocation:
    """One run of the copy with fresh clients (a new Lambda container) and the shared
    session store (the state table); `stop_after` chunk checks, it is told the deadline is
    near."""

    def __init__(self, sessions: MemoryUploadSessions, *hosts: str) -> None:
        self.sessions = sessions
        self.clients = RegistryClients(
            Registries([RegistryConfig(host=host, chunk_size=CHUNK) for host in hosts])
        )
        self.sent = Sent()

    def copy(self, src: str, dst: str, stop_after: int | None = None) -> CopyReport:
        checks = [0]

        def stop() -> bool:
            checks[0] += 1
            return stop_after is not None and checks[0] > stop_after

        resumable = Resumable(self.sessions, OWNER, threshold=2 * CHUNK, stop=stop)
        try:
            with Copier(self.clients, progress=self.sent, resumable=resumable) as copier:
                return copier.copy(Reference.parse(src), Reference.parse(dst))
        finally:
            self.clients.close()


@pytest.fixture
def image(registry: LocalRegistry) -> Iterator[Pushed]:
    with Pusher(registry.url) as pusher:
        yield pusher.image("team/big", "v1", [LAYER])


def layer_on(registry: LocalRegistry, repository: str) -> str:
    hasher = hashlib.sha256()
    with httpx.stream("GET", f"{registry.url}/v2/{repository}/blobs/{LAYER.digest()}") as reply:
        reply.raise_for_status()
        for chunk in reply.iter_bytes():
            hasher.update(chunk)
    return f"sha256:{hasher.hexdigest()}"


def test_an_interrupted_upload_continues_in_a_new_invocation(
    registry: LocalRegistry, dest_registry: LocalRegistry, image: Pushed
) -> None:
    sessions = MemoryUploadSessions()
    src, dst = f"{registry.host}/team/big:v1", f"{dest_registry.host}/mirror/big:v1"
    first = Invocation(sessions, registry.host, dest_registry.host)
    # Checks: one before the config blob, one before the layer, then one per chunk.
    with pytest.raises(UploadPaused):
        first.copy(src, dst, stop_after=2 + 4)
    session = sessions.get(OWNER, LAYER.digest())
    assert session is not None and session.offset == 4 * CHUNK
    assert session.location.startswith(dest_registry.url)
    resumed = Invocation(sessions, registry.host, dest_registry.host)
    report = resumed.copy(src, dst)
    assert report.status == "copied" and report.digest == image.digest
    layer_sent = LAYER.size - session.offset
    assert report.bytes_copied == layer_sent  # the config went up in the first invocation
    assert first.sent.bytes + resumed.sent.bytes <= LAYER.size + CHUNK  # config: a few bytes
    assert layer_on(dest_registry, "mirror/big") == LAYER.digest()
    assert sessions.sessions == {}


@pytest.mark.parametrize("lost", ["cancelled", "state-token-tampered"])
def test_a_session_the_registry_forgot_starts_over(
    registry: LocalRegistry, dest_registry: LocalRegistry, image: Pushed, lost: str
) -> None:
    sessions = MemoryUploadSessions()
    src, dst = f"{registry.host}/team/big:v1", f"{dest_registry.host}/mirror/big:v1"
    with pytest.raises(UploadPaused):
        Invocation(sessions, registry.host, dest_registry.host).copy(src, dst, stop_after=4)
    session = sessions.get(OWNER, LAYER.digest())
    assert session is not None and session.offset == 2 * CHUNK
    if lost == "cancelled":
        httpx.delete(session.location).raise_for_status()  # the registry drops the upload
    else:  # the recorded URL's state no longer matches what the registry signed
        tampered = str(httpx.URL(session.location).copy_set_param("_state", "Zm9yZ2Vk"))
        sessions.save(OWNER, session.model_copy(update={"location": tampered}))
    resumed = Invocation(sessions, registry.host, dest_registry.host)
    report = resumed.copy(src, dst)
    assert report.digest == image.digest and report.bytes_copied == LAYER.size
    assert layer_on(dest_registry, "mirror/big") == LAYER.digest()
    assert sessions.sessions == {}


def test_a_session_on_another_origin_is_never_contacted(
    registry: LocalRegistry, dest_registry: LocalRegistry, image: Pushed
) -> None:
    sessions = MemoryUploadSessions()
    elsewhere = f"http://127.0.0.1:{free_port()}/v2/mirror/big/blobs/uploads/x?_state=y"
    sessions.save(
        OWNER,
        UploadSession(digest=LAYER.digest(), size=LAYER.size, location=elsewhere, offset=CHUNK),
    )
    report = Invocation(sessions, registry.host, dest_registry.host).copy(
        f"{registry.host}/team/big:v1", f"{dest_registry.host}/mirror/big:v1"
    )
    config = image.size - len(image.data) - LAYER.size
    assert report.digest == image.digest and report.bytes_copied == LAYER.size + config
    assert layer_on(dest_registry, "mirror/big") == LAYER.digest()
