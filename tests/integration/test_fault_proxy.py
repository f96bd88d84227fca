"""The harness's fault-injecting proxy (freightliner.harness.fault_proxy) in front of a real
docker-registry injects what it says it does, and counts it; and pacing per host
(registry.pacing) through it: a 429 storm cuts the whole host's budget and holds it for
Retry-After, the budget recovers, and the request rate stays within the configured rate."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.quotas import PaceScope
from freightliner.domain.registries import Registries
from freightliner.domain.retry import RetryPolicy
from freightliner.harness.fault_proxy import FaultPlan, FaultProxy
from freightliner.harness.images import Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry


def statuses(client: httpx.Client, url: str, count: int) -> list[int]:
    return [client.get(url).status_code for _ in range(count)]


def test_random_503s_come_at_the_planned_rate(registry: LocalRegistry) -> None:
    with (
        FaultProxy(registry.url, FaultPlan(error_rate=0.25, seed=3)) as proxy,
        httpx.Client() as client,
    ):
        seen = statuses(client, f"{proxy.url}/v2/", 200)
    assert 30 <= seen.count(503) <= 70 and seen.count(503) + seen.count(200) == 200
    assert proxy.counts.injected_503 == seen.count(503)
    assert proxy.counts.forwarded == seen.count(200) and proxy.counts.requests == 200


def test_outage_and_storm_switch_on_and_off(registry: LocalRegistry) -> None:
    with FaultProxy(registry.url) as proxy, httpx.Client() as client:
        assert client.get(f"{proxy.url}/v2/").status_code == 200
        proxy.outage(True)
        assert statuses(client, f"{proxy.url}/v2/", 3) == [503, 503, 503]
        proxy.outage(False)
        proxy.storm(0.5)
        stormy = client.get(f"{proxy.url}/v2/")
        assert stormy.status_code == 429 and stormy.headers["Retry-After"] == "1"
        time.sleep(0.6)
        assert client.get(f"{proxy.url}/v2/").status_code == 200
    assert (proxy.counts.outage, proxy.counts.storm_429) == (3, 1)
    with FaultProxy(registry.url, FaultPlan(outage_mode="drop")) as dropping:
        dropping.outage(True)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{dropping.url}/v2/")


def test_the_quota_answers_429_with_retry_after_beyond_its_rate(registry: LocalRegistry) -> None:
    with FaultProxy(registry.url, FaultPlan(quota_rps=10)) as proxy, httpx.Client() as client:
        started = time.monotonic()
        answers = [client.get(f"{proxy.url}/v2/") for _ in range(60)]
        elapsed = time.monotonic() - started
    allowed = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code == 429]
    assert len(allowed) + len(refused) == 60 and len(refused) > 0
    assert 10 <= len(allowed) <= 10 + 10 * elapsed + 1  # the burst, then the rate
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    assert proxy.counts.quota_429 == len(refused)


def test_resets_cut_blob_transfers_midway_and_uploads_are_counted(
    registry: LocalRegistry,
) -> None:
    layer = RandomBlob(1, 64 * 1024)
    with FaultProxy(registry.url, FaultPlan(reset_rate=1.0)) as proxy:
        with Pusher(registry.url) as direct:
            direct.blob("team/app", layer)
        with (
            pytest.raises(httpx.TransportError),
            httpx.stream("GET", f"{proxy.url}/v2/team/app/blobs/{layer.digest()}") as response,
        ):
            received = b"".join(response.iter_raw())
            pytest.fail(f"the whole blob arrived ({len(received)} bytes)")
        with Pusher(proxy.url) as through, pytest.raises(httpx.TransportError):
            through.blob("team/other", RandomBlob(2, 64 * 1024))
    assert proxy.counts.resets == 2
    blob = b"a blob uploaded twice"
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with FaultProxy(registry.url) as clean, httpx.Client(base_url=clean.url) as client:
        for repository in ("team/a", "team/a", "team/b"):
            started = client.post(f"/v2/{repository}/blobs/uploads/")
            location = httpx.URL(started.headers["Location"])
            done = client.put(location.copy_merge_params({"digest": digest}), content=blob)
            assert done.status_code == 201
    assert clean.counts.uploads_completed == {f"team/a@{digest}": 2, f"team/b@{digest}": 1}
    assert clean.counts.duplicate_uploads == 1  # another repository's copy is no duplicate


def test_a_429_storm_backs_the_whole_host_off_and_it_recovers_within_its_rate(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    rate = 20.0
    with Pusher(registry.url) as pusher:
        pusher.image("team/app", "v1", [RandomBlob(9, 1024)])
    with FaultProxy(registry.url) as proxy:
        config = tmp_path / "registries.yaml"
        config.write_text(
            f"registries:\n  - host: {proxy.host}\n"
            f"    pacing: {{all: {{rate: {rate}, burst: 2}}}}\n"
        )
        clients = RegistryClients(
            Registries.load(config), retry=RetryPolicy(attempts=10, base_delay=0.05)
        )
        client = clients.client(proxy.host)
        pacer = client.transport.pacer
        stop = threading.Event()

        def work() -> None:
            while not stop.is_set():
                client.head_manifest("team/app", "v1")

        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1.5)
            storm_at = time.monotonic()
            proxy.storm(0.3)  # 429s with Retry-After: 1
            time.sleep(1.5)
            cut_rate = pacer.rate(PaceScope.ALL)
            deadline = time.monotonic() + 20
            while pacer.factor() < 1.0 and time.monotonic() < deadline:
                time.sleep(0.2)
            recovered_at = time.monotonic()
            time.sleep(1.0)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
            clients.close()
    answers = proxy.counts.answers
    refused = [a for a in answers if a.fault == "storm"]
    assert refused and pacer.cuts >= 1 and cut_rate is not None and cut_rate <= rate / 2
    first_429 = min(a.at for a in refused)
    held = [a for a in answers if first_429 + 0.05 < a.at < first_429 + 0.95]
    assert len(held) <= 4, "the whole host waits out Retry-After, not one request"
    assert pacer.factor() == 1.0, "the budget recovers (additive increase)"
    for start in (a.at for a in answers):  # never over the rate, burst included
        assert sum(start <= a.at < start + 1.0 for a in answers) <= rate + 2 + 1
    before = sum(storm_at - 1.0 <= a.at < storm_at for a in answers)
    after_hold = sum(first_429 + 1.0 <= a.at < first_429 + 2.0 for a in answers)
    again = sum(recovered_at <= a.at < recovered_at + 1.0 for a in answers)
    assert before >= 0.7 * rate and after_hold < 0.8 * before and again >= 0.7 * rate
