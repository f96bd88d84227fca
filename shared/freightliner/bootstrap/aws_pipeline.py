"""The serverless pipeline's parts on AWS (rules, SQS queue, DynamoDB state, the scan gate,
job-end events, once-per-event intake and the registry clients), shared by the Lambda
functions, the Cloud Function and the CLI's `tree` and `jobs --store aws` commands.

Each part is built on its first use and kept while the process lives; the adapters, boto3 and
even the settings model load with the first part that needs them, not with this module (the
environment variable names come from `freightliner.settings`, loaded by then).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from freightliner.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from freightliner.adapters.aws.idempotency import OncePerEvent
    from freightliner.adapters.aws.sessions import AwsClients
    from freightliner.bootstrap.registry_clients import RegistryClients
    from freightliner.domain.events import ImageEvent
    from freightliner.domain.retry import RetryPolicy
    from freightliner.domain.rules import RulesDocument
    from freightliner.engine.events.intake import IntakeResult
    from freightliner.ports.breakers import Breakers
    from freightliner.ports.metadata import MetadataCache
    from freightliner.ports.payloads import PayloadCodec
    from freightliner.ports.work import JobNotifier, ScanGate, StateStore, WorkQueue
    from freightliner.registry.observe import RequestObserver
    from freightliner.settings import Settings

T = TypeVar("T")


def required(value: str | None, variable: str) -> str:
    """A setting this part cannot do without; a ConfigurationError names it when unset."""
    if not value:
        raise ConfigurationError(f"{variable} is not set")
    return value


class AwsPipeline:
    """The parts, from `settings` (not the environment: a test passes its own)."""

    def __init__(self, settings: Settings, aws: AwsClients | None = None) -> None:
        self.settings = settings
        if aws is not None:
            self.aws = aws

    @cached_property
    def aws(self) -> AwsClients:
        from freightliner.bootstrap.aws_session import aws_clients  # noqa: PLC0415

        return aws_clients(self.settings)

    def client(self, service: str) -> Any:
        """A boto3 client in the deployment's region."""
        return self.aws.client(service, self.settings.region)

    @cached_property
    def registry_clients(self) -> RegistryClients:
        from freightliner.adapters.gcp.container_analysis import DEFAULT_ENDPOINT  # noqa: PLC0415
        from freightliner.bootstrap.registry_clients import RegistryClients  # noqa: PLC0415
        from freightliner.domain.registries import Registries  # noqa: PLC0415
        from freightliner.registry.pacing import LAMBDA_MAX_WAIT  # noqa: PLC0415

        settings = self.settings
        registries = Registries.load(Path(settings.registries) if settings.registries else None)
        endpoint = settings.container_analysis_endpoint or DEFAULT_ENDPOINT
        return RegistryClients(
            registries,
            aws=self.aws,
            scan_endpoint=endpoint,
            observer=self.request_observer(),
            fleet_size=settings.fleet_size,
            max_pace_wait=LAMBDA_MAX_WAIT,
            retry=self._retry_policy(),
        )

    def request_observer(self) -> RequestObserver | None:
        """What hears of every registry request: nothing here (the Lambda root traces them)."""
        return None

    def _retry_policy(self) -> RetryPolicy | None:
        """The registry clients' retry pauses, compressed with FREIGHTLINER_TIME_SCALE."""
        from freightliner.domain.retry import RetryPolicy  # noqa: PLC0415

        scale = self.settings.time_scale
        if scale == 1:
            return None
        default = RetryPolicy()
        return replace(
            default,
            base_delay=default.base_delay * scale,
            max_delay=default.max_delay * scale,
            max_retry_after=default.max_retry_after * scale,
        )

    def document(self, spec: str, parse: Callable[[str, str], T]) -> T:
        """A configuration document from a path, s3:// or ssm:, parsed; a missing, denied or
        invalid one is a ConfigurationError."""
        from freightliner.adapters.aws.documents import (  # noqa: PLC0415
            load_document_text,
            parsed_document,
        )

        text, origin = load_document_text(
            spec, lambda: self.client("s3"), lambda: self.client("ssm")
        )
        return parsed_document(parse, text, origin)

    @cached_property
    def rules(self) -> RulesDocument:
        from freightliner.domain.rules import parse_rules  # noqa: PLC0415
        from freightliner.environment import ENV_RULES  # noqa: PLC0415

        return self.document(required(self.settings.rules, ENV_RULES), parse_rules)

    @cached_property
    def queue(self) -> WorkQueue:
        from freightliner.adapters.aws.sqs_queue import SqsWorkQueue  # noqa: PLC0415
        from freightliner.environment import ENV_QUEUE_URL  # noqa: PLC0415

        url = required(self.settings.queue_url, ENV_QUEUE_URL)
        return SqsWorkQueue(self.client("sqs"), url, payloads=self.payloads)

    @cached_property
    def payloads(self) -> PayloadCodec:
        """Packs work payloads too large for a message or a row; parts go in the table (with
        no table configured, payloads are compressed at most: a reference is refused)."""
        from freightliner.adapters.aws.dynamo_payloads import DynamoPayloads  # noqa: PLC0415
        from freightliner.ports.payloads import PayloadCodec  # noqa: PLC0415

        return PayloadCodec(DynamoPayloads(self.table) if self.settings.table else None)

    @cached_property
    def table(self) -> Any:
        """The DynamoDB state table (jobs, items, scan waits, idempotency records)."""
        from freightliner.environment import ENV_TABLE  # noqa: PLC0415

        name = required(self.settings.table, ENV_TABLE)
        return self.aws.resource("dynamodb", self.settings.region).Table(name)

    @cached_property
    def breakers(self) -> Breakers:
        """The fleet's circuit breakers per registry host (the state table)."""
        from freightliner.adapters.aws.dynamo_breakers import DynamoBreakers  # noqa: PLC0415

        return DynamoBreakers(self.table)

    @cached_property
    def state(self) -> StateStore:
        from freightliner.adapters.aws.dynamo_state import DynamoStateStore  # noqa: PLC0415

        return DynamoStateStore(self.table, payloads=self.payloads)

    @cached_property
    def metadata(self) -> MetadataCache:
        """Blob locations and verified tags in the state table: later invocations mount."""
        from freightliner.adapters.aws.dynamo_metadata import DynamoMetadataCache  # noqa: PLC0415

        return DynamoMetadataCache(self.table)

    @cached_property
    def gate(self) -> ScanGate | None:
        """The scan-gate state machine, where the deployment names one."""
        from freightliner.adapters.aws.step_functions_gate import (  # noqa: PLC0415
            StepFunctionsScanGate,
        )

        arn = self.settings.scan_gate_arn
        if not arn:
            return None
        return StepFunctionsScanGate(self.client("stepfunctions"), arn, payloads=self.payloads)

    @cached_property
    def notifier(self) -> JobNotifier:
        """A job's end as metrics, and as an event where the deployment names a bus."""
        from freightliner.adapters.aws.eventbridge_notifier import (  # noqa: PLC0415
            EventBridgeJobNotifier,
        )
        from freightliner.engine.jobs.end import JobNotifiers  # noqa: PLC0415
        from freightliner.observability import JobEndMetrics  # noqa: PLC0415 - Powertools

        bus = self.settings.event_bus
        if not bus:
            return JobEndMetrics()
        return JobNotifiers(EventBridgeJobNotifier(self.client("events"), bus), JobEndMetrics())

    @cached_property
    def accept(self) -> OncePerEvent[IntakeResult]:
        """The engine's intake (plan, record, enqueue or gate) once per event, however often
        the event is delivered: `accept(event, correlation_id, lambda_context=None)`."""
        from freightliner.adapters.aws.idempotency import OncePerEvent  # noqa: PLC0415
        from freightliner.engine.events.intake import IntakeResult, accept_event  # noqa: PLC0415
        from freightliner.environment import ENV_TABLE  # noqa: PLC0415

        def intake(event: ImageEvent, correlation_id: str) -> IntakeResult:
            return accept_event(
                event,
                self.rules,
                queue=self.queue,
                state=self.state,
                gate=self.gate,
                correlation_id=correlation_id,
                notifier=self.notifier,
            )

        table = required(self.settings.table, ENV_TABLE)
        return OncePerEvent(
            table, self.client("dynamodb"), IntakeResult, intake, payloads=self.payloads
        )
