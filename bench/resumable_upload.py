"""Resumable large uploads and the deadline handoff, against docker-registry on loopback.

1. Resume: a LAYER_MB layer (pseudo-random, streamed, never held in memory) copied from one
   registry to another; the copy is interrupted once 60% of the layer is sent (the deadline
   check between chunks says stop) and continued by a new "invocation" (fresh clients, the
   recorded session). Bytes are counted on the wire by a proxy in front of the destination;
   target: bytes sent / layer size <= 1.1.
2. Handoff: an image that needs about 3 minutes through a throttled destination (a proxy
   passing RATE_KIB KiB/s) copied by the worker under a 60 s function timeout, on the local
   pipeline (in-process queue, state store and session store; real registries): each
   invocation stops before its deadline and hands the item to a new message, until done.
   Prints the invocations, the longest one, and the bytes sent against the image's size.

    .venv/bin/python bench/resumable_upload.py [--layer-mb 1024] [--image-mb 180 --rate-kib 1024]
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the in-memory work ports of the tests

from tests.support.memory_work import (  # noqa: E402
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryStateStore,
)

from freightliner.adapters.memory.uploads import MemoryUploadSessions  # noqa: E402
from freightliner.bootstrap.registry_clients import RegistryClients  # noqa: E402
from freightliner.domain.digest import Digest  # noqa: E402
from freightliner.domain.events import ImageEvent  # noqa: E402
from freightliner.domain.reference import Reference  # noqa: E402
from freightliner.domain.registries import Registries, RegistryConfig  # noqa: E402
from freightliner.domain.rules import parse_rules  # noqa: E402
from freightliner.domain.uploads import UploadOwner, UploadPaused  # noqa: E402
from freightliner.engine.copying.copy import Copier  # noqa: E402
from freightliner.engine.copying.resumable import Deadline, Resumable, ResumePolicy  # noqa: E402
from freightliner.engine.events.intake import accept_event  # noqa: E402
from freightliner.engine.jobs.worker import process_item  # noqa: E402
from freightliner.harness.images import Pusher, RandomBlob  # noqa: E402
from freightliner.harness.registry import LocalRegistry  # noqa: E402
from freightliner.invocation import InvocationDeadline  # noqa: E402

MIB = 1024 * 1024


class WireProxy:
    """A TCP proxy on loopback that counts the bytes clients send upstream and, with a
    rate, passes at most that many bytes per second (all connections together)."""

    def __init__(self, upstream: str, rate: float | None = None) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._rate = rate
        self._lock = threading.Lock()
        self._next_send = time.monotonic()
        self.sent = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pace(self, count: int) -> None:
        if self._rate is None:
            return
        with self._lock:
            start = max(self._next_send, time.monotonic())
            self._next_send = start + count / self._rate
        time.sleep(max(0.0, start - time.monotonic()))

    def _pump(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(16 * 1024 if self._rate else 256 * 1024):
                if counted:
                    self._pace(len(data))
                    with self._lock:
                        self.sent += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()


def clients(*hosts: str, chunk: int) -> RegistryClients:
    return RegistryClients(Registries([RegistryConfig(host=h, chunk_size=chunk) for h in hosts]))


def resume(layer_mb: int, chunk_mb: int) -> None:
    layer = RandomBlob(13, layer_mb * MIB)
    with LocalRegistry() as source, LocalRegistry() as dest:
        started = time.monotonic()
        with Pusher(source.url) as pusher:
            pusher.image("big/layer", "v1", [layer])
        print(f"seeded a {layer_mb} MiB layer in {time.monotonic() - started:.0f} s", flush=True)
        proxy = WireProxy(dest.host)
        src, dst = f"{source.host}/big/layer:v1", f"{proxy.host}/mirror/layer:v1"
        sessions = MemoryUploadSessions()
        owner = UploadOwner("bench", "layer")
        interrupted_at = 0

        def run(stop_at: float | None) -> bool:
            nonlocal interrupted_at
            container = clients(source.host, proxy.host, chunk=chunk_mb * MIB)

            def stop() -> bool:
                return stop_at is not None and proxy.sent >= stop_at * layer.size

            resumable = Resumable(sessions, owner, threshold=chunk_mb * MIB, stop=stop)
            try:
                with Copier(container, resumable=resumable) as copier:
                    copier.copy(Reference.parse(src), Reference.parse(dst))
                return True
            except UploadPaused:
                interrupted_at = proxy.sent
                return False
            finally:
                container.close()

        started = time.monotonic()
        assert not run(0.6), "the first invocation was not interrupted"
        assert run(None), "the second invocation did not finish"
        seconds = time.monotonic() - started
        check = clients(dest.host, chunk=chunk_mb * MIB)
        head = check.client(dest.host).head_blob("mirror/layer", Digest.parse(layer.digest()))
        check.close()
        assert head == layer.size, f"destination holds {head} bytes"
        proxy.close()
        print(
            f"resume: layer {layer.size} bytes, interrupted after {interrupted_at} "
            f"({interrupted_at / layer.size:.0%}), bytes sent {proxy.sent} = "
            f"{proxy.sent / layer.size:.3f}x the layer (target <= 1.1x), "
            f"{seconds:.0f} s, chunk {chunk_mb} MiB"
        )


RULES = """rules:
  - name: bench
    source: {{registry: "{src}", repository: 'team/*'}}
    destinations: [{{registry: "{dst}", repository: 'mirror/{{name}}'}}]
"""


def handoff(image_mb: int, rate_kib: int, timeout: int, margin: int, chunk_mb: int) -> None:
    layers = [RandomBlob(20 + n, image_mb * MIB // 4) for n in range(4)]
    with LocalRegistry() as source, LocalRegistry() as dest:
        with Pusher(source.url) as pusher:
            image = pusher.image("team/app", "v1", list(layers))
        proxy = WireProxy(dest.host, rate=rate_kib * 1024)
        rules = parse_rules(RULES.format(src=source.host, dst=proxy.host))
        queue, state, sessions = MemoryQueue(), MemoryStateStore(), MemoryUploadSessions()
        event = ImageEvent(
            event_id="bench",
            action="push",
            registry=source.host,
            repository="team/app",
            digest=image.digest,
            tag="v1",
        )
        accept_event(event, rules, queue=queue, state=state, gate=None)
        invocations, longest, outcomes = 0, 0.0, []
        started = time.monotonic()
        while (item := queue.take()) is not None and invocations < 50:
            invocations += 1
            began = time.monotonic()
            container = clients(source.host, proxy.host, chunk=chunk_mb * MIB)  # a fresh container
            deadline = Deadline.of(InvocationDeadline(timeout), margin)
            try:
                outcome = process_item(
                    item,
                    container,
                    state,
                    2,
                    rules=lambda: rules,
                    rejections=MemoryRejectionLog(),
                    queue=queue,
                    notifier=MemoryNotifier(),
                    resume=ResumePolicy(sessions, chunk_mb * MIB, deadline),
                )
            finally:
                container.close()
            took = time.monotonic() - began
            longest = max(longest, took)
            outcomes.append(outcome.outcome)
            print(f"  invocation {invocations}: {outcome.outcome} after {took:.1f} s", flush=True)
        total = time.monotonic() - started
        check = clients(dest.host, chunk=chunk_mb * MIB)
        head = check.client(dest.host).head_manifest("mirror/app", "v1")
        check.close()
        assert head is not None and str(head.digest) == image.digest, "the image did not land"
        proxy.close()
        print(
            f"handoff: image {image.size} bytes through {rate_kib} KiB/s under a {timeout} s "
            f"timeout (margin {margin} s): {invocations} invocations "
            f"({outcomes.count('handed_off')} handed off, final {outcomes[-1]}), longest "
            f"{longest:.1f} s, {total:.0f} s in all, bytes sent {proxy.sent} = "
            f"{proxy.sent / image.size:.3f}x the image"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer-mb", type=int, default=1024)
    parser.add_argument("--chunk-mb", type=int, default=32)
    parser.add_argument("--image-mb", type=int, default=180)
    parser.add_argument("--rate-kib", type=int, default=1024)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--margin", type=int, default=12)
    parser.add_argument("--handoff-chunk-mb", type=int, default=2)
    parser.add_argument("--only", choices=["resume", "handoff"])
    args = parser.parse_args()
    if args.only != "handoff":
        resume(args.layer_mb, args.chunk_mb)
    if args.only != "resume":
        handoff(args.image_mb, args.rate_kib, args.timeout, args.margin, args.handoff_chunk_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
