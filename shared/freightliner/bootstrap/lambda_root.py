"""The Lambda functions' factory: the AWS pipeline's parts plus what only Lambda handlers use
(scan-gate waits, the Pub/Sub poller's subscription, the scheduled syncs, SQS leases).

One `LambdaRoot` per warm execution environment, built from the environment on the first
invocation; a handler passes it (or the parts it needs) to the engine. Tests build their own
`LambdaRoot(Settings(...))` and hand it to the handler's `handle` function.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from freightliner.bootstrap.aws_pipeline import AwsPipeline, required
from freightliner.domain.errors import ConfigurationError, InvalidInput

if TYPE_CHECKING:
    from freightliner.adapters.aws.cloudwatch_logs import LogStreamWriter
    from freightliner.domain.sync import SyncFile, SyncSpec
    from freightliner.engine.jobs.resend import Resending
    from freightliner.ports.rejections import RejectionLog
    from freightliner.ports.scans import ScanWaits
    from freightliner.ports.uploads import UploadSessions
    from freightliner.ports.work import NotificationSource, ScanGate
    from freightliner.registry.observe import RequestObserver


class LambdaRoot(AwsPipeline):
    def request_observer(self) -> RequestObserver | None:
        """Every registry request as an X-Ray subsegment of the invocation's trace."""
        from freightliner.bootstrap.request_tracing import XRayRequests  # noqa: PLC0415
        from freightliner.observability import tracer  # noqa: PLC0415 - Powertools

        return XRayRequests(tracer.recorder)

    @cached_property
    def scan_waits(self) -> ScanWaits:
        from freightliner.adapters.aws.dynamo_scan_waits import DynamoScanWaits  # noqa: PLC0415

        return DynamoScanWaits(self.table)

    @cached_property
    def rejections(self) -> RejectionLog:
        """Where work items no job implies are recorded (the state table)."""
        from freightliner.adapters.aws.dynamo_rejections import DynamoRejectionLog  # noqa: PLC0415

        return DynamoRejectionLog(self.table)

    @cached_property
    def uploads(self) -> UploadSessions:
        """Large uploads' sessions, kept with their work items (the state table)."""
        from freightliner.adapters.aws.dynamo_uploads import DynamoUploadSessions  # noqa: PLC0415

        return DynamoUploadSessions(self.table)

    @cached_property
    def resending(self) -> Resending:
        """How the replicate function re-sends items: behind the fleet's circuit breakers,
        with the retry backoff, every delay compressed by the settings' time scale."""
        from freightliner.domain.breaker import BreakerPolicy  # noqa: PLC0415
        from freightliner.domain.retry import redelivery_delay  # noqa: PLC0415
        from freightliner.engine.jobs.circuit import Circuit  # noqa: PLC0415
        from freightliner.engine.jobs.resend import Resending  # noqa: PLC0415

        settings = self.settings
        scale = settings.time_scale
        policy = BreakerPolicy(
            threshold=settings.breaker_threshold, cool_down=settings.breaker_cool_down * scale
        )
        return Resending(
            self.queue,
            Circuit(self.breakers, policy),
            backoff=lambda attempt: redelivery_delay(attempt) * scale,
            max_attempts=settings.max_attempts,
        )

    def gate_to_wake(self) -> ScanGate:
        """The scan gate a scan-finished event wakes; a ConfigurationError where there is none."""
        from freightliner.environment import ENV_SCAN_GATE_ARN  # noqa: PLC0415

        gate = self.gate
        if gate is None:
            raise ConfigurationError(f"{ENV_SCAN_GATE_ARN} is not set: there is no gate to wake")
        return gate

    @cached_property
    def notifications(self) -> NotificationSource:
        """GAR notifications pulled from Pub/Sub (AWS-only deployments), over Pub/Sub's REST
        API with application-default Google credentials."""
        import httpx  # noqa: PLC0415

        from freightliner.adapters.gcp.gar_auth import GarCredentialProvider  # noqa: PLC0415
        from freightliner.adapters.gcp.google_rest import GoogleRest  # noqa: PLC0415
        from freightliner.adapters.gcp.pubsub_source import (  # noqa: PLC0415
            API_ENDPOINT,
            FORBIDDEN_HINT,
            PubSubNotificationSource,
        )
        from freightliner.environment import ENV_GAR_SUBSCRIPTION  # noqa: PLC0415

        subscription = required(self.settings.gar_subscription, ENV_GAR_SUBSCRIPTION)
        rest = GoogleRest(
            httpx.Client(timeout=30.0), GarCredentialProvider(), forbidden_hint=FORBIDDEN_HINT
        )
        endpoint = self.settings.pubsub_endpoint or API_ENDPOINT
        return PubSubNotificationSource(rest, subscription, endpoint)

    @cached_property
    def syncs(self) -> SyncFile:
        """The sync file whose tree syncs the schedules start."""
        from freightliner.domain.sync import parse_sync_file  # noqa: PLC0415
        from freightliner.environment import ENV_SYNCS  # noqa: PLC0415

        return self.document(required(self.settings.syncs, ENV_SYNCS), parse_sync_file)

    def sync_named(self, name: str) -> SyncSpec:
        """The sync file's sync called `name`; InvalidInput naming the known ones otherwise."""
        spec = next((s for s in self.syncs.syncs if s.name == name), None)
        if spec is None:
            known = ", ".join(s.name for s in self.syncs.syncs)
            raise InvalidInput(f"no sync named {name!r} (known: {known})")
        return spec

    def audit_stream(self, stream: str) -> LogStreamWriter:
        """A writer into `stream` of the audit log group (FREIGHTLINER_AUDIT_LOG_GROUP)."""
        from freightliner.adapters.aws.cloudwatch_logs import LogStreamWriter  # noqa: PLC0415
        from freightliner.environment import ENV_AUDIT_LOG_GROUP  # noqa: PLC0415

        group = required(self.settings.audit_log_group, ENV_AUDIT_LOG_GROUP)
        return LogStreamWriter(self.client("logs"), group, stream)

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Keep an SQS message leased (or set when it comes back) for `seconds`."""
        from freightliner.environment import ENV_QUEUE_URL  # noqa: PLC0415

        url = required(self.settings.queue_url, ENV_QUEUE_URL)
        self.client("sqs").change_message_visibility(
            QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


_ROOT: LambdaRoot | None = None


def lambda_root() -> LambdaRoot:
    """The execution environment's root, built from the environment on first use."""
    global _ROOT  # noqa: PLW0603 - the warm-container cache is the point
    if _ROOT is None:
        from freightliner.settings import Settings  # noqa: PLC0415 - read on first use

        _ROOT = LambdaRoot(Settings.from_env())
    return _ROOT


def forget_lambda_root() -> None:
    """Drop the cached root so the next invocation reads the environment again: for tests and
    `freightliner invoke`, which change the environment within one process."""
    global _ROOT  # noqa: PLW0603
    _ROOT = None
