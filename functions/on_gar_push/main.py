"""Google Cloud Function (gen2): Artifact Registry notifications on the `gcr` Pub/Sub topic
become work items on the same SQS queue the ECR path uses.

`on_gar_push` takes the Pub/Sub CloudEvent; `replicate_now` takes the console JSON over HTTP
(`{"source": …, "destination": …}`) for the Cloud Functions testing tab. Their AWS
credentials (a role assumed with this function's Google ID token, or keys from a secret) are
the composition root's business, chosen by FREIGHTLINER_AWS_ROLE_ARN or
FREIGHTLINER_AWS_CREDENTIALS.

Both start every invocation with fresh log keys and the request's Cloud Trace id, and write
their metrics as JSON log lines (`freightliner.cloud_logging`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import functions_framework
from cloudevents.http import CloudEvent

from freightliner.bootstrap.aws_pipeline import AwsPipeline
from freightliner.bootstrap.cloud_function_root import cloud_function_root
from freightliner.cloud_logging import cloud_invocation
from freightliner.domain.events import PubSubPush
from freightliner.environment import ENV_QUEUE_URL, ENV_RULES, ENV_TABLE
from freightliner.handler_outcomes import Trigger, handles
from freightliner.invocation import InvocationDeadline
from freightliner.observability import count_event, logger, short

if TYPE_CHECKING:
    import flask


@functions_framework.cloud_event
@cloud_invocation
@handles("GAR notification", Trigger.CLOUD_EVENT, requires=(ENV_TABLE, ENV_QUEUE_URL, ENV_RULES))
def on_gar_push(event: CloudEvent) -> dict[str, Any]:
    """Acknowledges (returns) only what redelivery cannot fix: malformed notifications.
    Retryable and configuration errors raise, so Pub/Sub delivers the message again (deploy
    with --retry) and, past its retention or dead-letter policy, keeps it where it can be
    replayed."""
    return handle_notification(event, cloud_function_root())


def handle_notification(event: CloudEvent, root: AwsPipeline) -> dict[str, Any]:
    message = PubSubPush.model_validate(event.get_data()).message
    image = message.image_event()
    if image is None:
        logger.info("ignored GAR notification", extra={"message_id": message.message_id})
        return {"status": "ignored"}
    logger.append_keys(
        correlation_id=message.message_id, repository=image.repository, digest=short(image.digest)
    )
    deadline = InvocationDeadline(root.settings.function_timeout)
    result = root.accept(image, message.message_id, deadline)
    count_event("gar", result.outcome)
    logger.info(result.outcome, extra={"job_id": result.plan.job_id})
    return {"status": result.outcome, "job_id": result.plan.job_id, "items": len(result.plan.items)}


@functions_framework.http
@cloud_invocation
@handles("replicate-now request", Trigger.HTTP)
def replicate_now(request: flask.Request) -> dict[str, Any]:
    """200 with the copy's report; otherwise the error class's status (400, 401, 403, 404,
    409, 429 with Retry-After, 503, 500)."""
    return handle_replicate_now(request, cloud_function_root())


def handle_replicate_now(request: flask.Request, root: AwsPipeline) -> dict[str, Any]:
    # The copy engine loads httpx: on the first request, not during the cold start.
    from freightliner.engine.copying.replicate_now import ReplicateNowRequest  # noqa: PLC0415
    from freightliner.engine.copying.replicate_now import replicate_now as copy_now  # noqa: PLC0415

    body = ReplicateNowRequest.model_validate(request.get_json(silent=True) or {})
    return copy_now(body, root.registry_clients, root.settings.jobs).model_dump()
