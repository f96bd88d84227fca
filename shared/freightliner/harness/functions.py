"""Loading the deployable functions from the checkout (functions/<name>/app.py or main.py),
so the demo, `freightliner invoke` and the tests run exactly the code that ships."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[3]
FUNCTIONS = REPO / "functions"
EVENTS = REPO / "events"
GCP_FUNCTION = FUNCTIONS / "on_gar_push" / "main.py"


def load_handler(name: str) -> ModuleType:
    path = FUNCTIONS / name / "app.py"
    if not path.exists():
        known = sorted(p.parent.name for p in FUNCTIONS.glob("*/app.py"))
        raise FileNotFoundError(f"no Lambda function {name!r}; known: {', '.join(known)}")
    spec = importlib.util.spec_from_file_location(f"functions_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cloud_function_client(target: str, signature: str) -> Any:
    """A functions-framework test client for the GCP function (`cloudevent` or `http`)."""
    from functions_framework import create_app  # noqa: PLC0415 - GCP tooling only

    return create_app(target, str(GCP_FUNCTION), signature).test_client()  # type: ignore[no-untyped-call]


def gar_insert_event(digest_reference: str, tag_reference: str) -> dict[str, Any]:
    """events/gar-insert.cloudevent.json announcing these references (`…@sha256:…`, `…:tag`)."""
    event: dict[str, Any] = json.loads((EVENTS / "gar-insert.cloudevent.json").read_text())
    notification = {"action": "INSERT", "digest": digest_reference, "tag": tag_reference}
    event["data"]["message"]["data"] = base64.b64encode(json.dumps(notification).encode()).decode()
    return event


def ecr_push_event(
    repository: str, digest: str, *, tag: str | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """events/ecr-push.json announcing a push of `repository@digest` (with `tag` and the
    event id `event_id` when given; the sample's own otherwise)."""
    event: dict[str, Any] = json.loads((EVENTS / "ecr-push.json").read_text())
    if event_id is not None:
        event["id"] = event_id
    event["detail"].update({"repository-name": repository, "image-digest": digest})
    if tag is not None:
        event["detail"]["image-tag"] = tag
    return event


def post_to_on_gar_push(event: dict[str, Any]) -> Any:
    """Deliver a structured CloudEvent to the on_gar_push Cloud Function."""
    return cloud_function_client("on_gar_push", "cloudevent").post(
        "/", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )


def forget_roots() -> None:
    """Make every function read the environment again on its next call: the Lambda and Cloud
    Function roots keep what they built while warm, and tests change the environment."""
    from freightliner.bootstrap.cloud_function_root import (  # noqa: PLC0415
        forget_cloud_function_root,
    )
    from freightliner.bootstrap.lambda_root import forget_lambda_root  # noqa: PLC0415

    forget_lambda_root()
    forget_cloud_function_root()
