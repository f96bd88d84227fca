"""Google Cloud Function (gen2): Artifact Registry notifications on the `gcr` Pub/Sub topic
become work items on the same SQS queue the ECR path uses.

`on_gar_push` takes the Pub/Sub CloudEvent; `replicate_now` takes the console JSON over HTTP
(`{"source": …, "destination": …}`) for the Cloud Functions testing tab. Their AWS
credentials (a role assumed with this function's Google ID token, or keys from a secret) are
the composition root's business, chosen by FREIGHTLINER_AWS_ROLE_ARN or
FREIGHTLINER_AWS_CREDENTIALS.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework
from cloudevents.http import CloudEvent
from pydantic import ValidationError

from freightliner.bootstrap import pipeline
from freightliner.domain.errors import FreightlinerError, RetryableError
from freightliner.domain.events import PubSubPush
from freightliner.engine.replicate_now import ReplicateNowRequest
from freightliner.lambda_support import rejection
from freightliner.observability import count_event, logger, short


@functions_framework.cloud_event
def on_gar_push(event: CloudEvent) -> dict[str, Any]:
    try:
        message = PubSubPush.model_validate(event.get_data()).message
        image = message.notification().image_event(message.message_id)
    except (ValidationError, FreightlinerError) as exc:
        return rejection(exc, "GAR notification")  # acked: redelivery cannot fix bad input
    if image is None:
        logger.info("ignored GAR notification", extra={"message_id": message.message_id})
        return {"status": "ignored"}
    logger.append_keys(
        correlation_id=message.message_id, repository=image.repository, digest=short(image.digest)
    )
    try:
        result = pipeline().accept(image, correlation_id=message.message_id)
    except RetryableError:
        raise  # not acked: Pub/Sub delivers it again
    except FreightlinerError as exc:
        return rejection(exc, "GAR notification")
    count_event(result.outcome)
    logger.info(result.outcome, extra={"job_id": result.plan.job_id})
    return {"status": result.outcome, "job_id": result.plan.job_id, "items": len(result.plan.items)}


@functions_framework.http
def replicate_now(request: flask.Request) -> tuple[dict[str, Any], int]:
    try:
        body = ReplicateNowRequest.model_validate(request.get_json(silent=True) or {})
        report = pipeline().replicate_now(body)
    except (ValidationError, FreightlinerError) as exc:
        return rejection(exc, "replicate-now request"), 400
    return report.model_dump(), 200
