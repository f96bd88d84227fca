"""Replaying what failed, once its cause is fixed: failed events go back to the function they
were for, dead-lettered work items back onto the work queue. A message leaves its queue only
after its replay was accepted; one that cannot be read stays there and is counted. One run
replays what was there when it started: an event that fails again while it runs arrives as
a new message, is left for the next run, and ends this one, so a redrive always ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from freightliner.domain.errors import InvalidInput
from freightliner.domain.failed_events import failed_event
from freightliner.ports.redrive import FunctionInvoker, MessageQueue

log = logging.getLogger(__name__)
BATCH = 10


class RedriveReport(BaseModel):
    events_replayed: dict[str, int] = Field(
        default_factory=dict, description="failed events re-invoked, per function"
    )
    events_unreadable: int = Field(default=0, description="left on the failed-events queue")
    events_failed_again: int = Field(
        default=0, description="failed again during this run: left for the next one"
    )
    work_items_moved: int = Field(default=0, description="DLQ messages back on the work queue")


def replay_failed_events(
    source: MessageQueue,
    invoker: FunctionInvoker,
    report: RedriveReport,
    limit: int,
    clock: Callable[[], float] = time.time,
) -> None:
    """Invoke each failed event's function again with its original event (asynchronously)."""
    started = clock()
    seen = 0
    while seen < limit:
        messages = source.receive(min(BATCH, limit - seen))
        if not messages:
            return
        seen += len(messages)
        late = 0
        for message in messages:
            if message.sent_at > started:
                source.release(message.receipt)
                late += 1
                continue
            try:
                event = failed_event(message.body, message.attributes)
            except InvalidInput as exc:
                log.warning("kept on the failed-events queue: %s", exc)
                report.events_unreadable += 1
                continue
            invoker.invoke_async(event.function, event.payload)
            source.delete(message.receipt)
            name = event.function.rsplit(":", 1)[-1]
            report.events_replayed[name] = report.events_replayed.get(name, 0) + 1
            log.info("replayed an event for %s (%s)", name, event.reason)
        report.events_failed_again += late
        if late == len(messages):
            return


def move_dead_letters(
    dlq: MessageQueue, work: MessageQueue, report: RedriveReport, limit: int
) -> None:
    """Send dead-lettered work items back onto the work queue, as they were."""
    while report.work_items_moved < limit:
        messages = dlq.receive(min(BATCH, limit - report.work_items_moved))
        if not messages:
            return
        for message in messages:
            work.send(message.body)
            dlq.delete(message.receipt)
            report.work_items_moved += 1
