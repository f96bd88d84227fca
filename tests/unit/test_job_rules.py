"""The job rules of freightliner.domain.jobs, pure: what an item adds to its job, when a job
closes and as what, and how its end is said (summary line, outcomes, metrics)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from freightliner.domain.jobs import (
    JobRecord,
    JobStatus,
    JobSummary,
    ended,
    finish_counters,
    new_item_counters,
    retry_counters,
)
from freightliner.domain.work import GateOutcome, ItemStatus, RepositoryPage, WorkItem

SRC = "src.example/team/app"
DST = "dst.example/mirror/team/app"


def image(n: int = 0) -> WorkItem:
    digest = "sha256:" + f"{n:02x}" * 32
    return WorkItem(
        job_id="j", source=f"{SRC}@{digest}", destination=f"{DST}:v{n}", source_digest=digest
    )


def repository(page: RepositoryPage | None = None) -> WorkItem:
    return WorkItem(
        action="repository", job_id="j", source=SRC, destination=DST, source_digest="", page=page
    )


@pytest.mark.parametrize(
    ("status", "counter"),
    [
        (ItemStatus.DONE, "done"),
        (ItemStatus.SKIPPED, "skipped"),
        (ItemStatus.FAILED, "failed"),
        (ItemStatus.BLOCKED, "blocked"),
    ],
)
def test_an_image_item_counts_once_under_its_outcome(status: ItemStatus, counter: str) -> None:
    assert finish_counters(image(), status) == {counter: 1}


def test_a_repository_item_counts_its_present_images_and_itself_once() -> None:
    assert finish_counters(repository(), ItemStatus.DONE, images_skipped=3) == {
        "total": 3,
        "skipped": 3,
        "repositories_done": 1,
    }
    assert finish_counters(repository(), ItemStatus.SKIPPED, images_skipped=2) == {
        "total": 2,
        "skipped": 2,
        "repositories_skipped": 1,
    }
    # a page whose repository goes on in another page does not count the repository yet
    assert finish_counters(repository(), ItemStatus.DONE, 1, continued=True) == {
        "total": 1,
        "skipped": 1,
    }
    assert finish_counters(repository(), ItemStatus.FAILED) == {
        "total": 0,
        "skipped": 0,
        "repositories_failed": 1,
    }


def test_retrying_a_failed_item_takes_back_exactly_what_its_failure_added() -> None:
    for item in (image(), repository()):
        added = finish_counters(item, ItemStatus.FAILED)
        taken = retry_counters(item)
        assert {k: added[k] + taken[k] for k in added} == dict.fromkeys(added, 0)


def test_new_work_counts_images_and_repositories_but_not_continuation_pages() -> None:
    page = RepositoryPage(after="v9", enqueued=9)
    items = [image(1), image(2), repository(), repository(page)]
    assert new_item_counters(items) == {"total": 2, "repositories": 1}
    assert new_item_counters([]) == {"total": 0, "repositories": 0}


def job(**counters: object) -> JobRecord:
    return JobRecord.model_validate({"job_id": "j", "created_at": 100.0, **counters})


def test_a_job_closes_only_when_running_and_everything_counted_finished() -> None:
    assert job(total=2, done=1).closing_status() is None  # one image to go
    assert job(total=2, done=1, skipped=1).closing_status() is JobStatus.COMPLETE
    # a tree job still listing repositories, or with a repository to expand, stays open
    assert job(status="ENUMERATING", total=0).closing_status() is None
    assert job(repositories=2, repositories_done=1).closing_status() is None
    assert job(status="COMPLETE", total=1, done=1).closing_status() is None  # closed already


@pytest.mark.parametrize(
    "errors", [{"failed": 1}, {"blocked": 1}, {"repositories": 1, "repositories_failed": 1}]
)
def test_any_failed_or_blocked_work_closes_the_job_with_errors(errors: dict[str, int]) -> None:
    counters = {"total": 1, "done": 1, **errors}
    counters["total"] += counters.get("failed", 0) + counters.get("blocked", 0)
    assert job(**counters).closing_status() is JobStatus.COMPLETED_WITH_ERRORS
    assert ended(with_errors=True) is JobStatus.COMPLETED_WITH_ERRORS
    assert ended(with_errors=False) is JobStatus.COMPLETE


def test_a_job_end_is_said_in_one_vocabulary_with_its_duration() -> None:
    closed = job(
        kind="tree",
        status="COMPLETED_WITH_ERRORS",
        finished_at=112.5,
        total=4,
        done=2,
        skipped=1,
        failed=1,
        bytes=2048,
        repositories=2,
        repositories_done=1,
        repositories_failed=1,
        detail={"sync": "prod-to-gar"},
    )
    summary = JobSummary.of(closed)
    assert summary.name == "prod-to-gar" and summary.images == 4 and summary.seconds == 12.5
    assert summary.outcomes() == "2 done, 1 skipped, 1 failed, 0 blocked"
    assert summary.line() == (
        "job j COMPLETED_WITH_ERRORS: 2 repositories (1 failed), 4 images: "
        "2 done, 1 skipped, 1 failed, 0 blocked, 2048 bytes"
    )
    dimensions = {"kind": "tree", "status": "COMPLETED_WITH_ERRORS"}
    assert [(m.name, m.unit, m.value, m.dimensions) for m in summary.metrics()] == [
        ("Jobs", "Count", 1, dimensions),
        ("JobSeconds", "Seconds", 12.5, dimensions),
    ]
    assert summary.model_dump(mode="json")["seconds"] == 12.5


def test_an_open_job_has_no_duration_and_an_event_job_is_named_by_its_image() -> None:
    running = job(total=1, detail={"source": f"{SRC}@sha256:ab"})
    summary = JobSummary.of(running)
    assert summary.name == f"{SRC}@sha256:ab" and summary.seconds is None
    assert summary.enumerated and not JobSummary.of(job(status="ENUMERATING")).enumerated


def test_the_gate_leaves_an_item_pending_blocked_or_failed_and_nothing_else() -> None:
    for status in ("PENDING", "BLOCKED", "FAILED"):
        assert GateOutcome.model_validate({"status": status, "reason": "r"}).status == status
    for status in ("DONE", "SKIPPED", "RUNNING", "LOST"):
        with pytest.raises(ValidationError):
            GateOutcome.model_validate({"status": status, "reason": "r"})
