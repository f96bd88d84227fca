"""Environment variable names and the settings read from them: one place for all of them.

Only the composition root reads these, on first use, never at import time. A bad value is a
ConfigurationError: the deployment is wrong, so no event is consumed until it is fixed.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from freightliner.domain.errors import ConfigurationError, InvalidInput
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.domain.registries import ROLE_ARN_RE
from freightliner.domain.secrets import SecretRef
from freightliner.environment import (
    DEFAULT_FUNCTION_TIMEOUT,
    DEFAULT_HANDOFF_MARGIN,
    DEFAULT_RESUMABLE_UPLOAD_BYTES,
    DEFAULT_WEB_IDENTITY_AUDIENCE,
    ENV_AUDIT_LOG_GROUP,
    ENV_AWS_CREDENTIALS,
    ENV_AWS_RETRY_MODE,
    ENV_AWS_ROLE_ARN,
    ENV_AWS_WEB_IDENTITY_AUDIENCE,
    ENV_BREAKER_COOL_DOWN,
    ENV_BREAKER_THRESHOLD,
    ENV_CONTAINER_ANALYSIS_ENDPOINT,
    ENV_EVENT_BUS,
    ENV_FAILED_EVENTS_ARN,
    ENV_FLEET_SIZE,
    ENV_FUNCTION_TIMEOUT,
    ENV_GAR_SUBSCRIPTION,
    ENV_GCP_PROJECT,
    ENV_HANDOFF_MARGIN,
    ENV_JOBS,
    ENV_LOG_GROUPS,
    ENV_MAX_ATTEMPTS,
    ENV_METADATA_TTL,
    ENV_PUBSUB_ENDPOINT,
    ENV_QUEUE_URL,
    ENV_REGION,
    ENV_REGISTRIES,
    ENV_RESUMABLE_UPLOAD_BYTES,
    ENV_RULES,
    ENV_SCAN_GATE_ARN,
    ENV_SCHEDULER_ROLE_ARN,
    ENV_STACK,
    ENV_START_TREE_ARN,
    ENV_SYNCS,
    ENV_TABLE,
    ENV_TIME_SCALE,
)


def aws_region() -> str:
    env = os.environ
    return env.get(ENV_REGION) or env.get("AWS_DEFAULT_REGION") or "us-east-1"


class Settings(BaseModel):
    queue_url: str | None = None
    table: str | None = None
    rules: str | None = None
    syncs: str | None = None
    registries: str | None = None
    gar_subscription: str | None = None
    pubsub_endpoint: str | None = None
    event_bus: str | None = None
    start_tree_arn: str | None = None
    scheduler_role_arn: str | None = None
    failed_events_arn: str | None = None
    scan_gate_arn: str | None = None
    container_analysis_endpoint: str | None = None
    jobs: int = Field(default=8, ge=1, le=64)
    function_timeout: int = Field(default=DEFAULT_FUNCTION_TIMEOUT, ge=1, le=3600)
    region: str = "us-east-1"
    aws_role_arn: str | None = None
    aws_web_identity_audience: str = DEFAULT_WEB_IDENTITY_AUDIENCE
    aws_credentials: SecretRef | None = None
    resumable_upload_bytes: int = Field(default=DEFAULT_RESUMABLE_UPLOAD_BYTES, ge=1)
    handoff_margin: int = Field(default=DEFAULT_HANDOFF_MARGIN, ge=0, le=3600)
    log_groups: list[str] = Field(default_factory=list)
    stack: str | None = None
    gcp_project: str | None = None
    aws_retry_mode: Literal["standard", "adaptive"] = "standard"
    fleet_size: int = Field(default=1, ge=1, le=10_000)

    @property
    def trace_gcp_project(self) -> str | None:
        """Where the Cloud Function logs: the named project, else the GAR subscription's."""
        if self.gcp_project:
            return self.gcp_project
        parts = (self.gar_subscription or "").split("/")
        return parts[1] if len(parts) == 4 and parts[0] == "projects" else None

    breaker_threshold: int = Field(default=5, ge=1, le=1000)
    breaker_cool_down: float = Field(default=60.0, gt=0, le=900)
    max_attempts: int = Field(default=10, ge=1, le=1000)
    time_scale: float = Field(default=1.0, gt=0, le=1)
    audit_log_group: str | None = None
    metadata_ttl: float = Field(default=DEFAULT_TTL_SECONDS, ge=0)

    @classmethod
    def from_env(cls) -> Settings:
        try:
            return cls._read_env()
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigurationError(f"setting {field}: {first['msg']}") from None
        except (InvalidInput, ValueError) as exc:
            raise ConfigurationError(str(exc)) from None

    @classmethod
    def _read_env(cls) -> Settings:
        env = os.environ
        if env.get(ENV_AWS_ROLE_ARN) and env.get(ENV_AWS_CREDENTIALS):
            raise InvalidInput(f"set {ENV_AWS_ROLE_ARN} or {ENV_AWS_CREDENTIALS}, not both")
        return cls(
            queue_url=env.get(ENV_QUEUE_URL) or None,
            table=env.get(ENV_TABLE) or None,
            rules=env.get(ENV_RULES) or None,
            syncs=env.get(ENV_SYNCS) or None,
            registries=env.get(ENV_REGISTRIES) or None,
            gar_subscription=env.get(ENV_GAR_SUBSCRIPTION) or None,
            pubsub_endpoint=env.get(ENV_PUBSUB_ENDPOINT) or None,
            event_bus=env.get(ENV_EVENT_BUS) or None,
            start_tree_arn=env.get(ENV_START_TREE_ARN) or None,
            scheduler_role_arn=env.get(ENV_SCHEDULER_ROLE_ARN) or None,
            failed_events_arn=env.get(ENV_FAILED_EVENTS_ARN) or None,
            scan_gate_arn=env.get(ENV_SCAN_GATE_ARN) or None,
            container_analysis_endpoint=env.get(ENV_CONTAINER_ANALYSIS_ENDPOINT) or None,
            jobs=int(env.get(ENV_JOBS) or 8),
            function_timeout=_seconds(ENV_FUNCTION_TIMEOUT, env.get(ENV_FUNCTION_TIMEOUT)),
            region=aws_region(),
            aws_role_arn=_role_arn(env.get(ENV_AWS_ROLE_ARN)),
            aws_web_identity_audience=env.get(ENV_AWS_WEB_IDENTITY_AUDIENCE)
            or DEFAULT_WEB_IDENTITY_AUDIENCE,
            aws_credentials=_aws_credentials(env.get(ENV_AWS_CREDENTIALS)),
            resumable_upload_bytes=_count(
                ENV_RESUMABLE_UPLOAD_BYTES, env.get(ENV_RESUMABLE_UPLOAD_BYTES)
            )
            or DEFAULT_RESUMABLE_UPLOAD_BYTES,
            handoff_margin=_count(ENV_HANDOFF_MARGIN, env.get(ENV_HANDOFF_MARGIN))
            or DEFAULT_HANDOFF_MARGIN,
            log_groups=[g.strip() for g in env.get(ENV_LOG_GROUPS, "").split(",") if g.strip()],
            stack=env.get(ENV_STACK) or None,
            gcp_project=env.get(ENV_GCP_PROJECT) or None,
            aws_retry_mode=env.get(ENV_AWS_RETRY_MODE) or "standard",
            fleet_size=_count(ENV_FLEET_SIZE, env.get(ENV_FLEET_SIZE)) or 1,
            breaker_threshold=int(env.get(ENV_BREAKER_THRESHOLD) or 5),
            breaker_cool_down=float(env.get(ENV_BREAKER_COOL_DOWN) or 60.0),
            max_attempts=int(env.get(ENV_MAX_ATTEMPTS) or 10),
            time_scale=float(env.get(ENV_TIME_SCALE) or 1.0),
            audit_log_group=env.get(ENV_AUDIT_LOG_GROUP) or None,
            metadata_ttl=metadata_ttl(env.get(ENV_METADATA_TTL)),
        )


def metadata_ttl(text: str | None) -> float:
    """Seconds cached metadata is trusted (FREIGHTLINER_METADATA_TTL, default one hour), for
    the CLI and the pipeline alike."""
    try:
        ttl = float(text) if text else float(DEFAULT_TTL_SECONDS)
    except ValueError:
        raise ConfigurationError(
            f"{ENV_METADATA_TTL} must be a number of seconds, not {text!r}"
        ) from None
    if ttl < 0:
        raise ConfigurationError(f"{ENV_METADATA_TTL} must not be negative")
    return ttl


def _seconds(variable: str, value: str | None) -> int:
    if not value:
        return DEFAULT_FUNCTION_TIMEOUT
    if not value.isdigit():
        raise InvalidInput(f"{variable}={value!r} is not a number of seconds")
    return int(value)


def _count(variable: str, value: str | None) -> int | None:
    """A whole number from the environment; None when unset."""
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(f"{variable}={value!r} is not a whole number")
    return int(value)


def _role_arn(value: str | None) -> str | None:
    if value and not ROLE_ARN_RE.match(value):
        raise InvalidInput(f"{ENV_AWS_ROLE_ARN}={value!r} is not an IAM role ARN")
    return value or None


def _aws_credentials(value: str | None) -> SecretRef | None:
    """The reference, checked without echoing it: a misplaced key must not reach a log."""
    if not value:
        return None
    try:
        return SecretRef.parse(value)
    except InvalidInput:
        raise InvalidInput(
            f"{ENV_AWS_CREDENTIALS} is not a credential reference (gcp-sm://…, aws-sm://…, "
            "env://VAR or file://PATH to AWS keys JSON); its value is not shown in case it is "
            "a key"
        ) from None
