"""Start a tree sync: on its schedule (EventBridge input `{"sync": NAME}`) or from the
console (`{"sync": NAME}`); enqueues one item per repository and returns the job id."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from freightliner.bootstrap import pipeline
from freightliner.domain.errors import InvalidInput
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import logger, metrics, tracer
from freightliner.settings import ENV_QUEUE_URL, ENV_SYNCS, ENV_TABLE


class StartTree(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sync: str


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@handles("start tree", Trigger.EVENT, requires=(ENV_TABLE, ENV_QUEUE_URL, ENV_SYNCS))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = StartTree.model_validate(event.get("detail") or event)
    work = pipeline()
    spec = next((s for s in work.syncs.syncs if s.name == request.sync), None)
    if spec is None:
        known = ", ".join(s.name for s in work.syncs.syncs)
        raise InvalidInput(f"no sync named {request.sync!r} (known: {known})")
    job_id = work.start_tree(spec)
    logger.info("tree sync started", extra={"job_id": job_id, "sync": request.sync})
    return {"status": "started", "job_id": job_id, "sync": request.sync}
