"""Which queued items the worker runs: only the work their job implies (issue 11, point 6)."""

from __future__ import annotations

import time

import pytest

from freightliner.domain.events import ImageEvent
from freightliner.domain.jobs import JobRecord
from freightliner.domain.rules import RulesDocument, parse_rules
from freightliner.domain.sync import SyncSpec
from freightliner.domain.work import WorkItem
from freightliner.engine.events.planning import plan_event
from freightliner.engine.jobs.authorization import rejection_reason

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
GAR = "europe-docker.pkg.dev"
DIGEST = "sha256:" + "ab" * 32
RULES = parse_rules(
    "rules:\n"
    "  - name: to-gar\n"
    f"    source: {{registry: {ECR}, repository: 'team/*'}}\n"
    f"    destinations: [{{registry: {GAR}, repository: 'p/mirror/{{repository}}'}}]\n"
    "    mirror_deletes: false\n"
)
EVENT = ImageEvent(
    event_id="e-1", action="push", registry=ECR, repository="team/app", digest=DIGEST, tag="v1"
)


def event_job(event: ImageEvent = EVENT) -> JobRecord:
    """The job intake records for the event (engine/events/intake.py)."""
    detail = {"action": event.action, "source": str(event.source), "tag": event.tag or ""}
    return JobRecord(job_id=plan_event(event, RULES).job_id, created_at=0.0, detail=detail)


def planned() -> WorkItem:
    [item] = plan_event(EVENT, RULES).items
    return item


def rules() -> RulesDocument:
    return RULES


def test_the_planned_item_of_a_recorded_event_job_runs() -> None:
    assert rejection_reason(planned(), event_job(), rules) is None


def test_an_item_of_a_job_that_was_never_created_is_refused() -> None:
    reason = rejection_reason(planned(), None, rules)
    assert reason is not None and "does not exist" in reason


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"destination": "evil.example.com/team/app:v1"}, "no current rule"),
        ({"destination": f"{GAR}/p/other/team/app:v1"}, "no current rule"),
        ({"destination": f"{GAR}/p/mirror/team/app:latest"}, "not the tag the event named"),
        ({"source": f"{ECR}/team/secret@{DIGEST}"}, "is not the image of event job"),
        ({"source_digest": "sha256:" + "cd" * 32}, "is not the image of event job"),
        ({"rule": "another"}, "no current rule named 'another'"),
        ({"action": "delete"}, "does not lead to a delete item"),
        ({"destination": "not a reference"}, "malformed reference"),
        ({"platforms": ["linux/amd64"]}, "copy options are not those of rule 'to-gar'"),
        ({"force": True}, "copy options are not those of rule 'to-gar'"),
    ],
)
def test_an_item_its_event_job_does_not_imply_is_refused(change: dict[str, str], why: str) -> None:
    forged = planned().model_copy(update=change)
    reason = rejection_reason(forged, event_job(), rules)
    assert reason is not None and why in reason


def test_a_destination_the_rules_no_longer_allow_is_refused() -> None:
    no_rules = RulesDocument()
    reason = rejection_reason(planned(), event_job(), lambda: no_rules)
    assert reason is not None and "no current rule" in reason


def test_deletes_run_only_where_the_rule_mirrors_them() -> None:
    delete = EVENT.model_copy(update={"action": "delete"})
    item = planned().model_copy(update={"action": "delete"})
    reason = rejection_reason(item, event_job(delete), rules)
    assert reason is not None and "no current rule" in reason
    mirroring = RulesDocument.model_validate(
        {"rules": [{**RULES.rules[0].model_dump(), "mirror_deletes": True}]}
    )
    assert rejection_reason(item, event_job(delete), lambda: mirroring) is None


MIRRORING = RulesDocument.model_validate(
    {"rules": [{**RULES.rules[0].model_dump(), "mirror_deletes": True}]}
)
UNTAG = ImageEvent(event_id="e-2", action="untag", registry=ECR, repository="team/app", tag="v1")


def test_an_untag_runs_where_the_rule_mirrors_deletes_and_nowhere_else() -> None:
    """An untag (a tag-only GAR DELETE) names the tag, not a digest: its item is authorized
    against the tagged source the job recorded, only where the rule mirrors deletes."""
    [item] = plan_event(UNTAG, MIRRORING).items
    assert item.action == "untag" and item.source == f"{ECR}/team/app:v1"
    assert rejection_reason(item, event_job(UNTAG), lambda: MIRRORING) is None
    reason = rejection_reason(item, event_job(UNTAG), rules)
    assert reason is not None and "no current rule" in reason


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"action": "delete"}, "does not lead to a delete item"),
        ({"action": "copy"}, "does not lead to a copy item"),
        ({"source_digest": DIGEST}, "is not the image of event job"),
        ({"destination": f"{GAR}/p/mirror/team/app:v2"}, "not the tag the event named"),
    ],
)
def test_an_untag_item_its_job_does_not_imply_is_refused(change: dict[str, str], why: str) -> None:
    [item] = plan_event(UNTAG, MIRRORING).items
    reason = rejection_reason(item.model_copy(update=change), event_job(UNTAG), lambda: MIRRORING)
    assert reason is not None and why in reason


def test_an_untag_job_does_not_authorize_deleting_or_copying_the_image() -> None:
    """A push or delete item pinned by digest, sent under an untag job, is refused."""
    [item] = plan_event(UNTAG, MIRRORING).items
    pinned = item.model_copy(update={"source": f"{ECR}/team/app@{DIGEST}", "action": "delete"})
    reason = rejection_reason(pinned, event_job(UNTAG), lambda: MIRRORING)
    assert reason is not None and "is not the image of event job" in reason


SPEC = SyncSpec.model_validate(
    {
        "name": "tree",
        "source": {"registry": "src.example.com", "prefix": "prod"},
        "destination": {"registry": "dst.example.com", "prefix": "mirror/prod"},
        "include": ["team/**"],
    }
)


def tree_job() -> JobRecord:
    detail = {"sync": SPEC.name, "definition": SPEC.model_dump_json()}
    return JobRecord(job_id="tree-1", kind="tree", created_at=time.time(), detail=detail)


def tree_item(source: str, destination: str, **fields: str) -> WorkItem:
    return WorkItem(
        job_id="tree-1", source=source, destination=destination, source_digest=DIGEST, **fields
    )


def test_tree_items_run_where_the_jobs_definition_maps_them() -> None:
    copy = tree_item(
        f"src.example.com/prod/team/app@{DIGEST}", "dst.example.com/mirror/prod/team/app:v1"
    )
    repository = copy.model_copy(
        update={
            "action": "repository",
            "source": "src.example.com/prod/team/app",
            "destination": "dst.example.com/mirror/prod/team/app",
            "source_digest": "",
        }
    )
    assert rejection_reason(copy, tree_job(), rules) is None
    assert rejection_reason(repository, tree_job(), rules) is None


@pytest.mark.parametrize(
    ("source", "destination", "why"),
    [
        (
            f"src.example.com/prod/team/app@{DIGEST}",
            "evil.example.com/mirror/prod/team/app:v1",
            "copies src.example.com/prod/team/app to dst.example.com/mirror/prod/team/app",
        ),
        (
            f"src.example.com/prod/team/app@{DIGEST}",
            "dst.example.com/elsewhere/team/app:v1",
            "not dst.example.com/elsewhere/team/app",
        ),
        (
            f"src.example.com/staging/team/app@{DIGEST}",
            "dst.example.com/mirror/staging/team/app:v1",
            "is not in sync 'tree'",
        ),
        (
            f"src.example.com/prod/other/app@{DIGEST}",
            "dst.example.com/mirror/prod/other/app:v1",
            "is not in sync 'tree'",
        ),
        (
            "src.example.com/prod/team/app:v1",
            "dst.example.com/mirror/prod/team/app:v1",
            "not pinned by the item's source digest",
        ),
    ],
)
def test_tree_items_outside_the_jobs_definition_are_refused(
    source: str, destination: str, why: str
) -> None:
    reason = rejection_reason(tree_item(source, destination), tree_job(), rules)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "change",
    [{"platforms": ["linux/arm64"]}, {"referrers": True}, {"force": True}, {"verify": True}],
)
def test_tree_copies_with_options_their_sync_does_not_set_are_refused(
    change: dict[str, object],
) -> None:
    copy = tree_item(
        f"src.example.com/prod/team/app@{DIGEST}", "dst.example.com/mirror/prod/team/app:v1"
    )
    reason = rejection_reason(copy.model_copy(update=change), tree_job(), rules)
    assert reason == "the item's copy options are not those of sync 'tree'"


def test_a_tree_job_without_its_definition_runs_nothing() -> None:
    job = tree_job().model_copy(update={"detail": {}})
    item = tree_item(
        f"src.example.com/prod/team/app@{DIGEST}", "dst.example.com/mirror/prod/team/app:v1"
    )
    reason = rejection_reason(item, job, rules)
    assert reason is not None and "no readable sync definition" in reason
