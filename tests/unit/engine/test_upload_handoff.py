"""Large uploads across invocations, in process: a copy nearing its deadline stops between
chunks, records its session with the item and hands the item off to a new message; the next
invocation continues from the registry's offset. A forgotten session starts over."""

from __future__ import annotations

import pytest

from freightliner.adapters.memory.registry import MemoryRegistries, MemoryRegistry
from freightliner.adapters.memory.uploads import MemoryUploadSessions
from freightliner.domain.digest import Digest
from freightliner.domain.errors import NotFound, Timeout, Unavailable
from freightliner.domain.events import ImageEvent
from freightliner.domain.rules import RulesDocument, parse_rules
from freightliner.domain.uploads import UploadOwner, UploadSession
from freightliner.domain.work import ItemStatus, WorkItem
from freightliner.engine.copying.resumable import (
    Deadline,
    Resumable,
    ResumePolicy,
    upload_resumable,
)
from freightliner.engine.events.intake import accept_event
from freightliner.engine.jobs.worker import ItemOutcome, process_item
from tests.support.memory_work import (
    MemoryNotifier,
    MemoryQueue,
    MemoryRejectionLog,
    MemoryStateStore,
)
from tests.support.oci_images import Image, layer, push_image, source_of

SRC, DST = "src.test", "dst.test"
CHUNK = 64 * 1024
LAYER = 20 * CHUNK  # twenty chunks: a "large" blob at this chunk size
RULES = parse_rules(
    "rules:\n  - name: mirror\n"
    f"    source: {{registry: {SRC}, repository: 'team/*'}}\n"
    f"    destinations: [{{registry: {DST}, repository: 'mirror/{{name}}'}}]\n"
)


class Invocation:
    """One function invocation's deadline: `budget` seconds, of which every check of the
    clock (one per chunk, one per blob) uses `per_check` (a copy that needs ~3 times its
    budget, like a 3-minute image under a 60 s timeout)."""

    def __init__(self, budget: float = 60.0, per_check: float = 5.0) -> None:
        self.left = budget
        self.per_check = per_check

    def remaining(self) -> float:
        self.left -= self.per_check
        return self.left


class Pipeline:
    def __init__(self) -> None:
        self.registries = MemoryRegistries(chunk_size=CHUNK)
        self.queue = MemoryQueue()
        self.state = MemoryStateStore()
        self.sessions = MemoryUploadSessions()
        self.notifier = MemoryNotifier()
        self.image = push_image(
            self.registries.client(SRC), "team/app", "v1", [layer(1, LAYER), layer(2, 100)]
        )
        event = ImageEvent(
            event_id="e-1",
            action="push",
            registry=SRC,
            repository="team/app",
            digest=str(self.image.digest),
            tag="v1",
        )
        accept_event(event, RULES, queue=self.queue, state=self.state, gate=None)

    def invoke(self, item: WorkItem, *, queue: bool = True) -> ItemOutcome:
        deadline = Deadline(Invocation().remaining, margin=10.0)
        return process_item(
            item,
            self.registries,
            self.state,
            rules=lambda: RULES,
            rejections=MemoryRejectionLog(),
            queue=self.queue if queue else None,
            notifier=self.notifier,
            resume=ResumePolicy(self.sessions, threshold=2 * CHUNK, deadline=deadline),
        )

    def drain(self, limit: int = 20) -> list[ItemOutcome]:
        """Run messages as the queue delivers them until it is empty (bounded)."""
        outcomes: list[ItemOutcome] = []
        while (item := self.queue.take()) is not None:
            assert len(outcomes) < limit, "the copy never finished"
            outcomes.append(self.invoke(item))
        return outcomes


def rules() -> RulesDocument:
    return RULES


def copied(pipeline: Pipeline, image: Image) -> bool:
    dest = pipeline.registries.client(DST)
    head = dest.head_manifest("mirror/app", "v1")
    layer_digest = image.blobs[1]
    return (
        head is not None
        and head.digest == image.digest
        and Digest.of(dest.get_blob("mirror/app", layer_digest, limit=LAYER)) == layer_digest
    )


def test_a_copy_outliving_its_invocation_is_handed_off_and_continued() -> None:
    pipeline = Pipeline()
    outcomes = pipeline.drain()
    kinds = [o.outcome for o in outcomes]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"handed_off"} and len(kinds) >= 3
    assert [delay for _, delay in pipeline.queue.requeued] == [0] * (len(kinds) - 1)
    assert copied(pipeline, pipeline.image)
    # Every chunk went up once: one recorded session per chunk the registry acknowledged.
    assert pipeline.sessions.saves == LAYER // CHUNK
    assert pipeline.sessions.sessions == {}
    [record] = pipeline.state.list_items(outcomes[0].job_id)
    assert record.status is ItemStatus.DONE and record.attempts == len(kinds)
    [job] = pipeline.notifier.finished
    assert job.done == 1


def test_a_handed_off_item_is_pending_with_its_session_recorded() -> None:
    pipeline = Pipeline()
    item = pipeline.queue.take()
    assert item is not None
    assert pipeline.invoke(item).outcome == "handed_off"
    [record] = pipeline.state.list_items(item.job_id)
    assert record.status is ItemStatus.PENDING and record.error_kind == "handoff"
    [session] = pipeline.sessions.sessions.values()
    assert 0 < session.offset < LAYER and session.offset % CHUNK == 0
    assert pipeline.queue.items == [item]  # the same item, as a new message


def test_a_session_the_registry_forgot_starts_over() -> None:
    pipeline = Pipeline()
    item = pipeline.queue.take()
    assert item is not None and pipeline.invoke(item).outcome == "handed_off"
    pipeline.registries.client(DST).forget_uploads()
    outcomes = pipeline.drain()
    assert outcomes[-1].outcome == "done" and copied(pipeline, pipeline.image)
    assert pipeline.sessions.saves > LAYER // CHUNK  # the forgotten chunks went up again
    assert pipeline.sessions.sessions == {}


def test_without_a_queue_to_hand_off_to_the_pause_is_retryable() -> None:
    pipeline = Pipeline()
    item = pipeline.queue.take()
    assert item is not None
    with pytest.raises(Timeout, match="handed off"):
        pipeline.invoke(item, queue=False)
    [record] = pipeline.state.list_items(item.job_id)
    assert record.status is ItemStatus.PENDING and pipeline.sessions.sessions


def test_without_a_deadline_a_large_upload_completes_and_leaves_no_session() -> None:
    pipeline = Pipeline()
    item = pipeline.queue.take()
    assert item is not None
    outcome = process_item(
        item,
        pipeline.registries,
        pipeline.state,
        rules=rules,
        rejections=MemoryRejectionLog(),
        queue=pipeline.queue,
        resume=ResumePolicy(pipeline.sessions, threshold=2 * CHUNK),
    )
    assert outcome.outcome == "done" and LAYER < outcome.bytes < LAYER + CHUNK
    assert pipeline.sessions.saves == LAYER // CHUNK and pipeline.sessions.sessions == {}


@pytest.mark.parametrize("recorded", ["another size", "more than the blob"])
def test_an_inconsistent_session_starts_over(recorded: str) -> None:
    registry = MemoryRegistry("dst.test", chunk_size=CHUNK)
    data = layer(3, 2 * CHUNK + 10)
    digest = Digest.of(data)
    location = registry.start_upload("mirror/app")
    held = 3 * CHUNK if recorded == "more than the blob" else CHUNK
    registry.patch_upload(location, 0, layer(4, held))
    size = len(data) + 1 if recorded == "another size" else len(data)
    sessions = MemoryUploadSessions()
    owner = UploadOwner("job", "item")
    sessions.save(
        owner, UploadSession(digest=str(digest), size=size, location=location, offset=held)
    )
    sent: list[int] = []
    resumable = Resumable(sessions, owner, threshold=CHUNK)
    upload_resumable(
        registry,
        "mirror/app",
        digest,
        len(data),
        source_of(data),
        resumable=resumable,
        on_bytes=sent.append,
    )
    assert sum(sent) == len(data) and registry.get_blob("mirror/app", digest) == data
    assert sessions.sessions == {}


def test_a_session_lost_mid_way_is_retried_from_the_start_not_failed() -> None:
    registry = MemoryRegistry("dst.test", chunk_size=CHUNK)
    data = layer(5, 3 * CHUNK)
    digest = Digest.of(data)
    sessions = MemoryUploadSessions()
    resumable = Resumable(sessions, UploadOwner("job", "item"), threshold=CHUNK)
    registry.faults.fail("patch_upload", NotFound, after=1)
    with pytest.raises(Unavailable, match="lost the upload session"):
        upload_resumable(
            registry, "mirror/app", digest, len(data), source_of(data), resumable=resumable
        )
    assert sessions.sessions == {}
    source = MemoryRegistry("src.test")
    source.faults.fail("open_blob", NotFound)  # the source's blob is gone: that stays permanent
    with pytest.raises(NotFound):
        upload_resumable(
            registry,
            "mirror/app",
            digest,
            len(data),
            lambda: source.open_blob("team/app", digest),
            resumable=resumable,
        )
