"""Start a tree sync: on its schedule (EventBridge input `{"sync": NAME}`) or from the
console (`{"sync": NAME}`); enqueues one item per repository and returns the job id."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from freightliner.bootstrap import pipeline
from freightliner.domain.errors import FreightlinerError, InvalidInput, RetryableError
from freightliner.domain.events import StartTreeRequest
from freightliner.lambda_support import rejection
from freightliner.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = StartTreeRequest.model_validate(event)
        work = pipeline()
        spec = next((s for s in work.syncs.syncs if s.name == request.sync), None)
        if spec is None:
            known = ", ".join(s.name for s in work.syncs.syncs)
            raise InvalidInput(f"no sync named {request.sync!r} (known: {known})")
        job_id = work.start_tree(spec)
    except RetryableError:
        raise
    except (ValidationError, FreightlinerError) as exc:
        return rejection(exc, "start tree")
    logger.info("tree sync started", extra={"job_id": job_id, "sync": request.sync})
    return {"status": "started", "job_id": job_id, "sync": request.sync}
