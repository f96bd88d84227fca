"""Outages ridden out on the local pipeline, on a compressed clock: a tree job is running
when the destination registry, the source registry or the state table goes away for (the
equivalent of) two hours. Nothing reaches the DLQ, every image arrives with its digests
verified, and the job completes on its own soon after the service is back.

The clock is compressed by FREIGHTLINER_TIME_SCALE (every cool-down, re-send delay and
registry retry pause the pipeline waits); SQS delays are whole seconds, so a delay never
drops below one. One test per scenario; the long outage stays out of every other test.
`FREIGHTLINER_OUTAGE_IMAGES` (default 12; the issue's figure is 300) and
`FREIGHTLINER_OUTAGE_TIME_SCALE` (default 1/240: two hours in 30 s) size a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.bootstrap.lambda_root import lambda_root
from freightliner.cli.main import main
from freightliner.domain.mediatypes import ACCEPT
from freightliner.harness.functions import forget_roots
from freightliner.harness.images import Pushed
from freightliner.harness.lambda_runtime import poll_once
from freightliner.harness.local_stack import ECR_HOST, GAR_HOST
from freightliner.harness.tree_job import ENDED, finished, start_first_sync, state_monitor
from tests.e2e.conftest import Stack
from tests.e2e.test_tree_pipeline import write_syncs
from tests.support.faulty_proxy import FaultyProxy, start_proxy

IMAGES = int(os.environ.get("FREIGHTLINER_OUTAGE_IMAGES", "12"))
SCALE = float(os.environ.get("FREIGHTLINER_OUTAGE_TIME_SCALE", str(1 / 240)))
OUTAGE = 2 * 3600 * SCALE  # two hours, compressed
COOL_DOWN = 300  # the breaker's cool-down setting (seconds, before compression)
THROTTLED = json.dumps(
    {
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    }
).encode()


@dataclass
class Figures:
    outage_started_after: int  # images finished when the outage began
    outage: float
    recovered_in: float  # seconds from the service's return to the job's end
    closed_in: float | None  # seconds from the service's return to its breaker closing
    dead_lettered: int
    breaker_lines: list[str]


def _any(method: str, path: str) -> bool:
    return True


@pytest.fixture
def compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREIGHTLINER_TIME_SCALE", str(SCALE))
    monkeypatch.setenv("FREIGHTLINER_BREAKER_COOL_DOWN", str(COOL_DOWN))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # botocore's own retries, kept short


@pytest.fixture
def tree(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Pushed]:
    """IMAGES repositories of one image each under prod/, and the sync that copies them."""
    pushed = [stack.push(f"prod/svc{n}", "v1", seed=1000 + n) for n in range(IMAGES)]
    monkeypatch.setenv("FREIGHTLINER_SYNCS", str(write_syncs(tmp_path / "syncs.yaml")))
    return pushed


@pytest.fixture
def source_proxy(stack: Stack) -> Iterator[FaultyProxy]:
    """The local "ECR" behind a fault-injecting proxy too."""
    proxy, host, stop = start_proxy(stack.ecr.url)
    config = stack.local.workdir / "registries.yaml"
    routed = config.read_text().replace(
        f"endpoint: {stack.ecr.url}\n", f"endpoint: http://{host}\n"
    )
    assert host in routed
    config.write_text(routed)
    try:
        yield proxy
    finally:
        stop()


def _monitor(stack: Stack) -> DynamoStateStore:
    return state_monitor(stack.local.moto_url, stack.resources.table)


def ride_out(
    stack: Stack,
    job_id: str,
    begin: Callable[[], None],
    end: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
    during: Callable[[], None] = lambda: None,
) -> Figures:
    """Run the replicate function on the queue; a third of the way through, `begin` the
    outage, `end` it OUTAGE seconds later (calling `during` once in between), and run
    until the job ends."""
    monitor = _monitor(stack)
    replicate = stack.replicate.handler
    started = ended = back_at = 0.0
    began_after = 0
    looked = False
    deadline = time.monotonic() + OUTAGE + 120 + IMAGES * 3
    with caplog.at_level(logging.INFO, logger="freightliner.engine.jobs.circuit"):
        while time.monotonic() < deadline:
            polled = poll_once(stack.sqs, stack.resources.queue_url, replicate, batch_size=2)
            job = monitor.get_job(job_id)
            now = time.monotonic()
            if not started and finished(job) >= IMAGES // 3:
                began_after, started = finished(job), now
                begin()
            elif started and not ended and now - started >= OUTAGE / 2 and not looked:
                looked = True
                during()
            elif started and not ended and now - started >= OUTAGE:
                ended, back_at = now, time.time()
                end()
            if ended and job is not None and job.status in ENDED:
                break
            if not polled:
                time.sleep(0.1)
        else:
            pytest.fail(f"the job did not end: {monitor.get_job(job_id)}")
    dlq = stack.sqs.get_queue_attributes(
        QueueUrl=stack.resources.dlq_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    lines = [r.getMessage() for r in caplog.records if "circuit breaker" in r.getMessage()]
    closes = [r.created for r in caplog.records if "closed" in r.getMessage()]
    return Figures(
        outage_started_after=began_after,
        outage=ended - started,
        recovered_in=time.monotonic() - ended,
        closed_in=closes[-1] - back_at if closes else None,
        dead_lettered=sum(int(v) for v in dlq.values()),
        breaker_lines=[line for line in lines if "opened" in line or "closed" in line],
    )


def verify_copies(stack: Stack, pushed: list[Pushed]) -> None:
    """Every image at the destination, its manifest and every blob hashing to its digest."""
    with httpx.Client(base_url=stack.gar.url) as gar:
        for n, image in enumerate(pushed):
            name = f"my-project/prod/svc{n}"
            answer = gar.get(f"/v2/{name}/manifests/v1", headers={"Accept": ACCEPT})
            assert answer.status_code == 200, name
            assert "sha256:" + hashlib.sha256(answer.content).hexdigest() == image.digest
            manifest = answer.json()
            assert manifest["layers"]
            for blob in [manifest["config"], *manifest["layers"]]:
                data = gar.get(f"/v2/{name}/blobs/{blob['digest']}").content
                assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]


def _assert_ridden_out(
    stack: Stack, job_id: str, pushed: list[Pushed], figures: Figures, host: str | None
) -> None:
    print(
        f"\n{IMAGES} images, outage {figures.outage:.1f} s after {figures.outage_started_after}:"
        f" breaker closed {figures.closed_in or 0:.1f} s and job done"
        f" {figures.recovered_in:.1f} s after recovery (cool-down {COOL_DOWN * SCALE:.2f} s),"
        f" DLQ {figures.dead_lettered}"
    )
    job = _monitor(stack).get_job(job_id)
    assert job is not None and job.status == "COMPLETE", job
    assert (job.done + job.skipped, job.failed) == (IMAGES, 0)
    assert figures.dead_lettered == 0
    assert figures.outage >= OUTAGE
    verify_copies(stack, pushed)
    # within one cool-down of recovery, plus copying what waited (a second per image at most)
    assert figures.recovered_in <= COOL_DOWN * SCALE * 1.2 + 2 + IMAGES
    if host is None:
        assert figures.breaker_lines == []
    else:  # the first probe after the cool-down closes it (SQS delays are whole seconds)
        assert figures.closed_in is not None
        assert figures.closed_in <= COOL_DOWN * SCALE * 1.2 + 2
        opened, closed = figures.breaker_lines
        assert "opened" in opened and host in opened
        assert "closed" in closed and host in closed


def test_a_two_hour_destination_outage_is_ridden_out(
    stack: Stack,
    tree: list[Pushed],
    compressed: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    forget_roots()
    job_id = start_first_sync()
    outage = stack.gar_proxy

    def look() -> None:
        """`jobs status` in outage mode shows what waits on which host."""
        capsys.readouterr()
        assert main(["jobs", "status", job_id, "--json"]) == 0
        view = json.loads(capsys.readouterr().out)
        [wait] = view["waiting"]
        assert wait["host"] == GAR_HOST and wait["items"] > 0
        assert main(["jobs", "status", job_id]) == 0
        assert f"on the open circuit breaker of {GAR_HOST}" in capsys.readouterr().out

    figures = ride_out(
        stack,
        job_id,
        begin=lambda: outage.fail(_any, 503, times=10**9),
        end=outage.faults.clear,
        caplog=caplog,
        during=look,
    )
    _assert_ridden_out(stack, job_id, tree, figures, GAR_HOST)


def test_a_two_hour_source_outage_is_ridden_out(
    stack: Stack,
    tree: list[Pushed],
    source_proxy: FaultyProxy,
    compressed: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    forget_roots()
    job_id = start_first_sync()
    figures = ride_out(
        stack,
        job_id,
        begin=lambda: source_proxy.fail(_any, 0, times=10**9),  # connections dropped
        end=source_proxy.faults.clear,
        caplog=caplog,
    )
    _assert_ridden_out(stack, job_id, tree, figures, ECR_HOST)


def test_two_hours_of_state_table_throttling_are_ridden_out(
    stack: Stack,
    tree: list[Pushed],
    compressed: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy, host, stop = start_proxy(stack.local.moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://{host}")
    forget_roots()
    try:
        job_id = start_first_sync()
        assert lambda_root().settings.time_scale == SCALE

        def throttle() -> None:
            proxy.fail(
                _any,
                400,
                times=10**9,
                body=THROTTLED,
                headers={"Content-Type": "application/x-amz-json-1.0"},
            )

        figures = ride_out(stack, job_id, begin=throttle, end=proxy.faults.clear, caplog=caplog)
    finally:
        stop()
    throttled = sum(1 for _, _, status in proxy.requests if status == 400)
    print(f"\nstate-table calls throttled: {throttled}")
    assert throttled > IMAGES
    _assert_ridden_out(stack, job_id, tree, figures, None)
