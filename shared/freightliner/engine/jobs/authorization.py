"""Whether a work item may run: the queue is not a trust boundary, the state table and the
rules are.

Anyone allowed to send to the work queue could otherwise choose where images go. So the
worker runs an item only when its job exists in the state table and the item is work that
job implies: for an event job, the job's own source image going to a destination the current
rules give that image (under the rule the item names, with its copy options); for a tree
job, a repository of the sync definition stored on the job at its creation, going where
that definition maps it, with its options.
Everything else is refused with the reason, and never claimed, counted or copied.

Items are not signed: this check reads only what a queue sender cannot write, so a signature
would add a key to distribute and rotate (to every producer, the CLI included) while guarding
nothing more than the replay of work that is authorized anyway, and idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError

from freightliner.domain.compression import Compression
from freightliner.domain.errors import InvalidInput
from freightliner.domain.jobs import JobRecord
from freightliner.domain.reference import Reference
from freightliner.domain.rules import Destination, RulesDocument
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import WorkItem

# What each kind of job records on its job record for this check (engine/events/intake.py and
# engine/tree/fanout.py write them).
EVENT_SOURCE = "source"  # `<registry>/<repository>@<digest>` (an untag: `...:<tag>`)
EVENT_ACTION = "action"  # push | delete | untag
EVENT_TAG = "tag"  # the event's tag, "" for a digest-only event
TREE_DEFINITION = "definition"  # the SyncSpec as JSON

_ITEM_ACTION = {"push": "copy", "delete": "delete", "untag": "untag"}


def rejection_reason(
    item: WorkItem, job: JobRecord | None, rules: Callable[[], RulesDocument]
) -> str | None:
    """None when `item` is work its job implies; otherwise why it must not run. `rules`
    loads the current rules (only event jobs need them); its errors propagate."""
    if job is None:
        return f"job {item.job_id} does not exist in the state table"
    try:
        source, destination = Reference.parse(item.source), Reference.parse(item.destination)
    except InvalidInput as exc:
        return f"malformed reference: {exc.detail}"
    if job.kind == "tree":
        return _tree_reason(item, job, source, destination)
    if job.kind == "event":
        return _event_reason(item, job, source, destination, rules())
    return f"job {job.job_id} is a {job.kind!r} job, which runs no queued work"


def _tree_reason(
    item: WorkItem, job: JobRecord, source: Reference, destination: Reference
) -> str | None:
    if item.action not in ("copy", "repository"):
        return f"a tree job runs copy and repository items, not {item.action!r}"
    try:
        spec = SyncSpec.model_validate_json(job.detail.get(TREE_DEFINITION, ""))
    except ValidationError:
        return f"tree job {job.job_id} has no readable sync definition"
    if source.registry != spec.source.registry or not spec.selects(source.repository):
        return f"source {source.name} is not in sync {spec.name!r}"
    expected = f"{spec.destination.registry}/{spec.destination_repository(source.repository)}"
    if destination.name != expected:
        return f"sync {spec.name!r} copies {source.name} to {expected}, not {destination.name}"
    if item.action == "copy" and str(source.digest or "") != item.source_digest:
        return "the source is not pinned by the item's source digest"
    options = (spec.platforms, spec.referrers, spec.force, not spec.skip_existing, spec.compress)
    if item.action == "copy" and _options(item) != options:
        return f"the item's copy options are not those of sync {spec.name!r}"
    return None


def _options(item: WorkItem) -> tuple[list[str], bool, bool, bool, Compression | None]:
    """What changes what a copy writes: a filtered index or zstd layers have another
    digest."""
    return item.platforms, item.referrers, item.force, item.verify, item.compress


def _event_reason(
    item: WorkItem,
    job: JobRecord,
    source: Reference,
    destination: Reference,
    rules: RulesDocument,
) -> str | None:
    # An untag's source is the tag that went away: no digest on either side.
    if item.source != job.detail.get(EVENT_SOURCE) or item.source_digest != str(
        source.digest or ""
    ):
        return f"source {item.source} is not the image of event job {job.job_id}"
    if item.action != _ITEM_ACTION.get(job.detail.get(EVENT_ACTION, ""), "copy"):
        return f"a {job.detail.get(EVENT_ACTION)} event does not lead to a {item.action} item"
    # Jobs recorded before the tag was kept on the job are checked on everything else.
    if EVENT_TAG in job.detail and (destination.tag or "") != job.detail[EVENT_TAG]:
        return f"destination tag {destination.tag!r} is not the tag the event named"
    for rule in rules.matching(source.registry, source.repository, destination.tag):
        removes = item.action in ("delete", "untag")
        if rule.name != item.rule or (removes and not rule.mirror_deletes):
            continue
        if not any(_sends_to(allowed, source, destination) for allowed in rule.destinations):
            continue
        if _options(item) != (rule.platforms, rule.referrers, False, False, rule.compress):
            return f"the item's copy options are not those of rule {rule.name!r}"
        return None
    return f"no current rule named {item.rule!r} sends {source.name} to {destination.name}"


def _sends_to(allowed: Destination, source: Reference, destination: Reference) -> bool:
    try:
        repository = allowed.repository_for(source.repository)
    except InvalidInput:
        return False
    return allowed.registry == destination.registry and repository == destination.repository
