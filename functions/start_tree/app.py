"""Start a tree sync: on its schedule (EventBridge input `{"sync": NAME}`) or from the
console (`{"sync": NAME}`, with `"verify": true` to check every image again); enqueues one
item per repository and returns the job id."""

from __future__ import annotations

from typing import Any

from freightliner.bootstrap.lambda_root import LambdaRoot, lambda_root
from freightliner.domain.events import StartTreeRequest
from freightliner.environment import ENV_QUEUE_URL, ENV_SYNCS, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.observability import count_tree_started, logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
@handles("start tree", Trigger.EVENT, requires=(ENV_TABLE, ENV_QUEUE_URL, ENV_SYNCS))
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, lambda_root())


def handle(event: dict[str, Any], root: LambdaRoot) -> dict[str, Any]:
    from freightliner.engine.tree.fanout import start_tree  # noqa: PLC0415 - loads httpx: first use

    request = StartTreeRequest.model_validate(event)
    job_id, _ = start_tree(
        root.sync_named(request.sync),
        root.registry_clients,
        queue=root.queue,
        state=root.state,
        notifier=root.notifier,
        verify=request.verify,
    )
    count_tree_started()
    logger.info("tree sync started", extra={"job_id": job_id, "sync": request.sync})
    return {"status": "started", "job_id": job_id, "sync": request.sync}
