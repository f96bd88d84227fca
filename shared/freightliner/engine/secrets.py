"""Secret management verbs over any `SecretStore`, with an audit event (`engine.audit`,
kind `secret_write`) for every write and delete: operation, secret, store, caller identity,
time and outcome — never the value.

Values are checked (size, JSON) before any store is called.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from freightliner.domain.errors import FreightlinerError, InvalidInput
from freightliner.domain.secrets import SecretDeletion, SecretText, SecretVersion
from freightliner.engine.audit import AuditEvent, AuditTrigger, audit_log, emit
from freightliner.ports.secrets import SecretStore

__all__ = ["audit_log", "delete_secret", "put_json_secret", "put_secret"]
T = TypeVar("T")


def _audited(store: SecretStore, operation: str, name: str, action: Callable[[], T]) -> T:
    try:
        result = action()
    except FreightlinerError as exc:
        _emit(store, operation, name, exc.kind, None)
        raise
    _emit(store, operation, name, "success", getattr(result, "version", None))
    return result


def _emit(store: SecretStore, operation: str, name: str, outcome: str, version: str | None) -> None:
    """`outcome`: "success" or the error kind."""
    where = f"{store.kind}:{store.location}"
    detail = {"operation": operation, "secret": name, "store": where}
    emit(
        AuditEvent(
            audit="secret_write",
            trigger=AuditTrigger(principal=store.caller_identity()),
            destination=f"{where}/{name}",
            outcome=outcome,
            detail={**detail, "version": version} if version else detail,
        )
    )


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
