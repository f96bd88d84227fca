"""Once per event: Powertools Idempotency over the state table, so a delivery of an event
already accepted (EventBridge and Pub/Sub deliver at least once) answers what the first one
did without planning or enqueueing again.

Records live under `PK = IDEMPOTENCY` for 24 hours, keyed by the event's id and digest.
Powertools is imported when the first wrapper is built, not when this module is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from freightliner.domain.events import ImageEvent

R = TypeVar("R", bound=BaseModel)
REMEMBER_SECONDS = 24 * 3600


class OncePerEvent(Generic[R]):
    """Runs `work(event, correlation_id)` once per (event_id, digest); later calls return the
    stored result (as `result_type`)."""

    def __init__(
        self,
        table: str,
        dynamodb: Any,
        result_type: type[R],
        work: Callable[[ImageEvent, str], R],
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )
        from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import (  # noqa: PLC0415
            PydanticSerializer,
        )

        self._config = IdempotencyConfig(
            event_key_jmespath="[event_id, digest]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=REMEMBER_SECONDS,
        )
        store = DynamoDBPersistenceLayer(
            table_name=table,
            key_attr="PK",
            sort_key_attr="SK",
            expiry_attr="expires_at",
            static_pk_value="IDEMPOTENCY",
            boto3_client=dynamodb,
        )

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="event",
            persistence_store=store,
            config=self._config,
            output_serializer=PydanticSerializer(result_type),
        )
        def once(event: ImageEvent, correlation_id: str) -> R:
            return work(event, correlation_id)

        self._once: Callable[..., R] = once

    def __call__(
        self, event: ImageEvent, correlation_id: str = "", lambda_context: Any = None
    ) -> R:
        if lambda_context is not None:  # lets an in-progress record expire with the invocation
            self._config.register_lambda_context(lambda_context)
        return self._once(event=event, correlation_id=correlation_id)
