"""Pacing per registry host (registry.pacing) on a fake clock: the token bucket's rate and
burst, the fleet share, AIMD on 429 for the whole host, Retry-After holding every request,
concurrency slots, and the published-quota defaults of the registries config."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from freightliner.domain.errors import RateLimited, Where
from freightliner.domain.quotas import (
    DOCKER_HUB_PACING,
    ECR_PACING,
    GAR_PACING,
    OperationClass,
    Pace,
    PaceScope,
    scopes_of,
)
from freightliner.domain.registries import Registries
from freightliner.registry.pacing import (
    FLOOR,
    LAMBDA_MAX_WAIT,
    RECOVERY_PER_SECOND,
    HostPacer,
    fleet_share,
    operation_class,
)

WHERE = Where("r.test")
READ = OperationClass.READ


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def pacer(clock: FakeClock, max_wait: float = LAMBDA_MAX_WAIT, **scopes: Pace) -> HostPacer:
    pacing = {PaceScope(name.replace("_", "-")): pace for name, pace in scopes.items()}
    return HostPacer("r.test", pacing, clock=clock, sleep=clock.sleep, max_wait=max_wait)


def admit(host: HostPacer, operation: OperationClass = READ) -> float:
    with host.permit(operation, WHERE) as permit:
        return permit.admitted


def test_rate_spaces_requests_after_the_burst() -> None:
    clock = FakeClock()
    host = pacer(clock, read=Pace(rate=10, burst=3))
    times = [admit(host) - 1000.0 for _ in range(8)]
    assert times == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5])
    clock.now += 10  # a quiet spell refills the burst, no more
    base = clock.now
    again = [admit(host) - base for _ in range(4)]
    assert again == pytest.approx([0, 0, 0, 0.1])


def test_default_burst_is_one_seconds_worth() -> None:
    assert Pace(rate=10).burst_size() == 10
    assert Pace(rate=0.1).burst_size() == 1
    assert Pace().burst_size() == 1


def test_every_budget_a_request_draws_on_limits_it() -> None:
    clock = FakeClock()
    host = pacer(clock, all=Pace(rate=100, burst=1), manifest_write=Pace(rate=2, burst=1))
    writes = [admit(host, OperationClass.MANIFEST_WRITE) - 1000.0 for _ in range(3)]
    assert writes == pytest.approx([0, 0.5, 1.0])  # the class's 2/s, not the host's 100/s
    assert scopes_of(OperationClass.BLOB_UPLOAD) == (
        PaceScope.ALL,
        PaceScope.WRITE,
        PaceScope.BLOB_UPLOAD,
    )
    assert scopes_of(OperationClass.MANIFEST_PULL) == (PaceScope.ALL, PaceScope.MANIFEST_PULL)


def test_the_fleet_share_keeps_n_processes_inside_the_quota() -> None:
    quota = Pace(rate=10, burst=10, concurrency=8)
    share = fleet_share(quota, 5)
    assert (share.rate, share.burst, share.concurrency) == (2, 2, 1)
    assert share.rate is not None and 5 * share.rate == quota.rate
    tiny = fleet_share(Pace(rate=10, concurrency=8), 20)
    assert (tiny.rate, tiny.burst, tiny.concurrency) == (0.5, 1, 1)
    assert fleet_share(quota, 1) is quota
    assert fleet_share(Pace(concurrency=4), 2) == Pace(concurrency=2)
    clock = FakeClock()
    host = HostPacer(
        "r.test", {PaceScope.READ: quota}, 5, clock=clock, sleep=clock.sleep
    )  # 2/s, burst 2: 2 at once, then one every 0.5 s
    assert [admit(host) - 1000.0 for _ in range(4)] == pytest.approx([0, 0, 0.5, 1.0])


def test_a_429_halves_the_whole_hosts_rate_once_per_signal_and_it_recovers_additively() -> None:
    clock = FakeClock()
    host = pacer(clock, read=Pace(rate=10), blob_upload=Pace(rate=4))
    early = [host.permit(READ, WHERE).__enter__() for _ in range(3)]  # in flight together
    host.throttled(early[0], None)
    assert host.factor() == 0.5
    assert host.rate(PaceScope.READ) == 5 and host.rate(PaceScope.BLOB_UPLOAD) == 2
    for permit in early[1:]:  # the same burst of 429s: one signal, one cut
        host.throttled(permit, None)
    assert host.factor() == 0.5 and host.cuts == 1 and host.throttled_count == 3
    clock.now += 0.001
    later = host.permit(READ, WHERE).__enter__()
    host.throttled(later, None)  # sent after the cut and still refused: cut again
    assert host.factor() == pytest.approx(0.25, abs=1e-4) and host.cuts == 2
    clock.now += 5  # additive increase: +0.05 per second
    assert host.factor() == pytest.approx(0.25 + 5 * RECOVERY_PER_SECOND, abs=1e-4)
    clock.now += 60
    assert host.factor() == 1.0 and host.rate(PaceScope.READ) == 10
    for _ in range(20):
        clock.now += 0.001
        host.throttled(host.permit(OperationClass.MANIFEST_PULL, WHERE).__enter__(), None)
    assert host.factor() == FLOOR  # slowed, never stopped


def test_retry_after_holds_every_request_to_the_host() -> None:
    clock = FakeClock()
    host = pacer(clock)  # no rate configured: Retry-After still holds the host
    permit = host.permit(OperationClass.BLOB_UPLOAD, WHERE).__enter__()
    host.throttled(permit, 2.5)
    assert admit(host, OperationClass.MANIFEST_PULL) == pytest.approx(1002.5)
    assert admit(host) == pytest.approx(1002.5)  # the hold is over: no more waiting


def test_in_a_function_a_wait_past_the_limit_fails_rate_limited_instead_of_blocking() -> None:
    clock = FakeClock()
    host = pacer(clock, manifest_pull=Pace(rate=90 / 3600, burst=1))
    admit(host, OperationClass.MANIFEST_PULL)
    with pytest.raises(RateLimited) as caught:
        admit(host, OperationClass.MANIFEST_PULL)
    assert caught.value.retry_after == pytest.approx(40.0)
    assert clock.now == 1000.0  # nothing waited, nothing booked
    clock.now += 40
    assert admit(host, OperationClass.MANIFEST_PULL) == pytest.approx(1040.0)
    host.throttled(host.permit(READ, WHERE).__enter__(), 3600)
    with pytest.raises(RateLimited, match="pause of 60"):
        admit(host)  # a host held for longer than the wait limit: the caller retries later
    patient = pacer(clock, max_wait=math.inf, manifest_pull=Pace(rate=90 / 3600, burst=1))
    start = clock.now
    admit(patient, OperationClass.MANIFEST_PULL)
    assert admit(patient, OperationClass.MANIFEST_PULL) == pytest.approx(start + 40.0)  # the CLI


def test_concurrency_slots_bound_requests_in_flight_across_threads() -> None:
    host = HostPacer("r.test", {PaceScope.ALL: Pace(concurrency=2)})
    lock = threading.Lock()
    inside, most = 0, 0

    def request() -> None:
        nonlocal inside, most
        with host.permit(READ, WHERE):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 2


def test_threads_sharing_a_pacer_stay_within_its_rate() -> None:
    host = HostPacer("r.test", {PaceScope.READ: Pace(rate=400, burst=1)})
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [admit(host) for _ in range(20)]) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 99 / 400  # 100 requests at 400/s, one burst slot


def test_requests_are_classed_as_registries_meter_them() -> None:
    assert operation_class("GET", "/v2/a/manifests/v1") is OperationClass.MANIFEST_PULL
    assert operation_class("HEAD", "/v2/a/manifests/v1") is OperationClass.READ
    assert operation_class("PUT", "/v2/a/manifests/v1") is OperationClass.MANIFEST_WRITE
    assert operation_class("DELETE", "/v2/a/manifests/sha256:ab") is OperationClass.MANIFEST_WRITE
    assert operation_class("HEAD", "/v2/a/blobs/sha256:ab") is OperationClass.READ
    assert operation_class("GET", "/v2/a/tags/list") is OperationClass.READ
    for method in ("POST", "PATCH", "PUT"):
        assert operation_class(method, "/v2/a/blobs/uploads/u1") is OperationClass.BLOB_UPLOAD
    assert operation_class("GET", "/v2/a/blobs/uploads/u1") is OperationClass.READ


def test_registries_config_defaults_to_published_quotas_and_overrides_by_scope(
    tmp_path: Path,
) -> None:
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    path = tmp_path / "registries.yaml"
    path.write_text(
        "registries:\n"
        f"  - host: {ecr}\n"
        "    pacing:\n"
        "      manifest-write: {rate: 5, concurrency: 4}\n"
        "      all: {concurrency: 64}\n"
        "  - host: docker.io\n"
        "    pacing: {manifest-pull: {}}\n"
    )
    registries = Registries.load(path)
    pacing = registries.pacing(ecr)
    assert pacing[PaceScope.MANIFEST_WRITE] == Pace(rate=5, concurrency=4)
    assert pacing[PaceScope.BLOB_UPLOAD] == ECR_PACING[PaceScope.BLOB_UPLOAD]
    assert pacing[PaceScope.ALL] == Pace(concurrency=64)
    assert registries.pacing("docker.io") == {PaceScope.MANIFEST_PULL: Pace()}  # lifted
    assert Registries().pacing("registry-1.docker.io") == DOCKER_HUB_PACING
    assert Registries().pacing("europe-west1-docker.pkg.dev") == GAR_PACING
    assert GAR_PACING[PaceScope.ALL].rate == 1000 and GAR_PACING[PaceScope.WRITE].rate == 300
    assert Registries().pacing("ghcr.io") == {} and Registries().pacing("127.0.0.1:5000") == {}
    bad = tmp_path / "bad.yaml"
    bad.write_text("registries:\n  - host: ghcr.io\n    pacing: {uploads: {rate: 1}}\n")
    with pytest.raises(Exception, match="pacing"):
        Registries.load(bad)
