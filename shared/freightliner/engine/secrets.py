"""Secret management verbs over any `SecretStore`, with an audit event for every write and
delete: operation, secret, store, caller identity, time and outcome — never the value.

Values are checked (size, JSON) before any store is called.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel

from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.domain.secrets import SecretDeletion, SecretText, SecretVersion
from freightliner.ports.secrets import SecretStore

audit_log = logging.getLogger("freightliner.audit")
T = TypeVar("T")


class AuditEvent(BaseModel):
    event: str = "secret_audit"
    operation: str
    secret: str
    store: str
    caller: str
    time: datetime
    outcome: str  # "success" or the error kind
    version: str | None = None


def _audited(store: SecretStore, operation: str, name: str, action: Callable[[], T]) -> T:
    try:
        result = action()
    except FreightlinerError as exc:
        _emit(store, operation, name, exc.kind, None)
        raise
    _emit(store, operation, name, "success", getattr(result, "version", None))
    return result


def _emit(store: SecretStore, operation: str, name: str, outcome: str, version: str | None) -> None:
    event = AuditEvent(
        operation=operation,
        secret=name,
        store=f"{store.kind}:{store.location}",
        caller=store.caller_identity(),
        time=datetime.now(UTC),
        outcome=outcome,
        version=version,
    )
    fields = event.model_dump(mode="json")
    level = logging.INFO if outcome == "success" else logging.WARNING
    audit_log.log(level, "secret audit %s", json.dumps(fields, sort_keys=True), extra=fields)


def _put(store: SecretStore, operation: str, name: str, text: str) -> SecretVersion:
    value = SecretText.of(name, text)
    return _audited(store, operation, name, lambda: store.put(name, value))


def put_secret(store: SecretStore, name: str, text: str) -> SecretVersion:
    return _put(store, "put", name, text)


def put_json_secret(store: SecretStore, name: str, text: str) -> SecretVersion:
    """Like `put_secret`, for a JSON document, which must parse first (the error quotes no
    part of it, only where it broke)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"secret {name!r}: the value is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"secret {name!r}: the value is JSON nested too deeply") from None
    return _put(store, "put-json", name, text)


def delete_secret(
    store: SecretStore,
    name: str,
    *,
    force: bool = False,
    version: str | None = None,
    recovery_days: int = 30,
) -> SecretDeletion:
    operation = "destroy-version" if version else ("force-delete" if force else "delete")
    return _audited(
        store,
        operation,
        name,
        lambda: store.delete(name, force=force, version=version, recovery_days=recovery_days),
    )
