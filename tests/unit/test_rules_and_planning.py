"""Rules documents, event parsing and planning (pure)."""

import base64
import json
from pathlib import Path

import pytest

from freightliner.domain.errors import InvalidInput
from freightliner.domain.events import EcrImageAction, ImageEvent, PubSubMessage
from freightliner.domain.globs import glob_match
from freightliner.domain.rules import parse_rules
from freightliner.engine.events.planning import plan_event

ROOT = Path(__file__).resolve().parents[2]
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("team/*", "team/app", True),
        ("team/*", "team/a/b", False),
        ("team/**", "team/a/b", True),
        ("**/app", "app", True),
        ("**/app", "x/y/app", True),
        ("prod/*-api", "prod/users-api", True),
    ],
)
def test_globs(pattern: str, name: str, expected: bool) -> None:
    assert glob_match(pattern, name) is expected


def test_example_rules_load_and_route() -> None:
    rules = parse_rules((ROOT / "config/rules.example.yaml").read_text())
    assert [r.name for r in rules.matching(ECR, "team/app", "v1.2")] == ["prod-to-gar"]
    assert rules.matching(ECR, "team/app", "v1.2-rc1") == []
    assert rules.matching(ECR, "other/app", "v1") == []


def test_bad_rules_name_line_and_field() -> None:
    text = (
        "rules:\n"
        "  - name: a\n"
        "    source: {registry: ghcr.io}\n"
        "    destinations:\n"
        "      - registry: ghcr.io\n"
        "        repository: 'mirror/{repo}'\n"
    )
    with pytest.raises(InvalidInput) as info:
        parse_rules(text, "rules.yaml")
    message = str(info.value)
    assert message.startswith("rules.yaml:6: rules.0.destinations.0.repository")
    assert "unknown template field" in message
    with pytest.raises(InvalidInput, match=r"rules.yaml:2: rules\.0\.source: Field required"):
        parse_rules("rules:\n  - name: a\n    sourc: {}\n", "rules.yaml")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        parse_rules("rules: [", "rules.yaml")


def ecr_event(**detail: str) -> dict[str, object]:
    base = {
        "result": "SUCCESS",
        "repository-name": "team/app",
        "image-digest": DIGEST,
        "action-type": "PUSH",
        "image-tag": "v1",
    }
    return {
        "id": "e-1",
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": "123456789012",
        "region": "us-east-1",
        "detail": {**base, **detail},
    }


def test_ecr_events_become_image_events() -> None:
    event = EcrImageAction.model_validate(ecr_event()).image_event()
    assert event == ImageEvent(
        event_id="e-1", action="push", registry=ECR, repository="team/app", digest=DIGEST, tag="v1"
    )
    assert EcrImageAction.model_validate(ecr_event(result="FAILURE")).image_event() is None
    with pytest.raises(InvalidInput):
        EcrImageAction.model_validate(ecr_event(**{"repository-name": "Team/App"})).image_event()


def test_pubsub_messages_in_both_spellings() -> None:
    payload = {
        "action": "INSERT",
        "digest": f"us-docker.pkg.dev/proj/repo/img@{DIGEST}",
        "tag": "us-docker.pkg.dev/proj/repo/img:1.0",
    }
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    for key in ("messageId", "message_id"):
        message = PubSubMessage.model_validate({"data": data, key: "m-1"})
        event = message.notification().image_event(message.message_id)
        assert event is not None and event.repository == "proj/repo/img" and event.tag == "1.0"
    with pytest.raises(InvalidInput, match="not a GAR notification"):
        PubSubMessage.model_validate({"data": "bm9wZQ==", "messageId": "m-2"}).notification()


def test_planning_fans_out_and_keeps_identity_stable() -> None:
    rules = parse_rules(
        "rules:\n"
        "  - name: two\n"
        f"    source: {{registry: {ECR}, repository: 'team/*'}}\n"
        "    destinations:\n"
        "      - {registry: us-docker.pkg.dev, repository: 'p/mirror/{repository}'}\n"
        "      - {registry: 210987654321.dkr.ecr.eu-west-1.amazonaws.com, repository: '{name}'}\n"
        "    scan_gate: false\n"
    )
    event = EcrImageAction.model_validate(ecr_event()).image_event()
    assert event is not None
    plan = plan_event(event, rules)
    assert [i.destination for i in plan.items] == [
        "us-docker.pkg.dev/p/mirror/team/app:v1",
        "210987654321.dkr.ecr.eu-west-1.amazonaws.com/app:v1",
    ]
    assert all(i.source == f"{ECR}/team/app@{DIGEST}" for i in plan.items)
    again = plan_event(event, rules)
    assert [i.item_id for i in again.items] == [i.item_id for i in plan.items]
    assert again.job_id == plan.job_id
    deleted = event.model_copy(update={"action": "delete"})
    assert plan_event(deleted, rules).items == []  # the rule does not mirror deletes
