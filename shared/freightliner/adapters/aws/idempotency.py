"""Once per event: Powertools Idempotency over the state table, so a delivery of an event
already accepted (EventBridge and Pub/Sub deliver at least once) answers what the first one
did without planning or enqueueing again.

Records live under `PK = IDEMPOTENCY` for 24 hours, keyed by the event's id and digest.
A result too large for the record (an intake's plan of items naming thousands of platforms)
is kept packed as work payloads are (`PayloadCodec`: compressed, else by reference).
Powertools is imported when the first wrapper is built, not when this module is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from freightliner.domain.events import ImageEvent
from freightliner.ports.payloads import PayloadCodec

R = TypeVar("R", bound=BaseModel)
REMEMBER_SECONDS = 24 * 3600
RESULT_LIMIT = 300_000
"""A stored result's bytes at most: under DynamoDB's 400 KB item with the record's keys."""
PACKED = "packed"


class OncePerEvent(Generic[R]):
    """Runs `work(event, correlation_id)` once per (event_id, digest); later calls return the
    stored result (as `result_type`)."""

    def __init__(
        self,
        table: str,
        dynamodb: Any,
        result_type: type[R],
        work: Callable[[ImageEvent, str], R],
        payloads: PayloadCodec | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
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
            output_serializer=_packing_serializer(result_type, payloads or PayloadCodec()),
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


def _packing_serializer(result_type: type[R], payloads: PayloadCodec) -> Any:
    """Powertools' serializer for `result_type`: the result as it is when it fits the record,
    else packed (base64 or a reference, which JSON stores without escaping)."""
    from aws_lambda_powertools.utilities.idempotency.serialization.base import (  # noqa: PLC0415
        BaseIdempotencySerializer,
    )

    class Packing(BaseIdempotencySerializer):
        def to_dict(self, data: Any) -> dict[str, Any]:
            text = data.model_dump_json()
            packed = payloads.pack(text, RESULT_LIMIT)
            return data.model_dump(mode="json") if packed == text else {PACKED: packed}

        def from_dict(self, data: dict[str, Any]) -> Any:
            if isinstance(data.get(PACKED), str):
                return result_type.model_validate_json(payloads.unpack(data[PACKED]))
            return result_type.model_validate(data)

    return Packing()
