"""The composition root: the only place that picks concrete adapters and builds clients.

Everything is built lazily on first use and cached while the process (or a warm Lambda) lives:
no boto3 client, config read or network happens at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.dynamo_scan_waits import DynamoScanWaits
from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider
from freightliner.adapters.aws.ecr_repositories import EcrRepositoryAdmin
from freightliner.adapters.aws.ecr_scans import EcrImageScanner
from freightliner.adapters.aws.errors import aws_error
from freightliner.adapters.aws.sqs_queue import SqsWorkQueue
from freightliner.adapters.aws.step_functions_gate import StepFunctionsScanGate
from freightliner.adapters.gcp.container_analysis import DEFAULT_ENDPOINT, ContainerAnalysisScanner
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.gcp.pubsub_source import PubSubNotificationSource
from freightliner.adapters.local.noop_repositories import NoopRepositoryAdmin
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    EnvCredentialProvider,
    StaticCredentialProvider,
)
from freightliner.domain.errors import InvalidInput, Unsupported, Where
from freightliner.domain.events import ImageEvent, ScanFinished
from freightliner.domain.reference import ecr_host, gar_host
from freightliner.domain.registries import AuthKind, Registries, TlsMode
from freightliner.domain.rules import RulesDocument, parse_rules
from freightliner.domain.scans import Verdict
from freightliner.domain.sync import SyncFile, SyncSpec, parse_sync_file
from freightliner.domain.work import WorkItem
from freightliner.engine.gar_poll import PollReport, poll_notifications
from freightliner.engine.intake import IntakeResult, accept_event
from freightliner.engine.models import CopyReport
from freightliner.engine.replicate_now import ReplicateNowRequest, replicate_now
from freightliner.engine.scan_gate import (
    CheckScanRequest,
    CheckScanResult,
    ParkRequest,
    ScanTask,
    WakeReport,
    check_scan,
    evaluate_scan,
    park_wait,
    wake_waiting_gates,
)
from freightliner.engine.tree_fanout import start_tree
from freightliner.engine.worker import ItemOutcome, process_item
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.ports.repositories import RepositoryAdmin
from freightliner.ports.scans import ImageScanner, ScanWaits
from freightliner.ports.work import NotificationSource, ScanGate, StateStore, WorkQueue
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.retry import RetryPolicy
from freightliner.registry.transport import RegistryTransport
from freightliner.settings import (
    ENV_GAR_SUBSCRIPTION,
    ENV_QUEUE_URL,
    ENV_REGISTRIES,
    ENV_RULES,
    ENV_SCAN_GATE_ARN,
    ENV_SYNCS,
    ENV_TABLE,
    Settings,
)


class Container:
    """Registry clients, credential providers and repository admins, one per host, cached."""

    def __init__(
        self,
        registries: Registries | None = None,
        credentials: dict[str, Credential] | None = None,
        retry: RetryPolicy | None = None,
        scan_endpoint: str = DEFAULT_ENDPOINT,
    ) -> None:
        self._registries = registries
        self._overrides = dict(credentials or {})
        self._retry = retry or RetryPolicy()
        self._scan_endpoint = scan_endpoint
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._admins: dict[str, RepositoryAdmin] = {}
        self._scanners: dict[str, ImageScanner] = {}
        self._scan_http: httpx.Client | None = None
        self._boto: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_environment(
        cls, registries_file: Path | None = None, credentials: dict[str, Credential] | None = None
    ) -> Container:
        path = registries_file or (
            Path(os.environ[ENV_REGISTRIES]) if os.environ.get(ENV_REGISTRIES) else None
        )
        return cls(Registries.load(path), credentials)

    @property
    def registries(self) -> Registries:
        if self._registries is None:
            self._registries = Registries()
        return self._registries

    # -- ClientSource -------------------------------------------------------------------

    def client(self, host: str) -> RegistryClient:
        with self._lock:
            found = self._clients.get(host)
            if found is None:
                found = self._clients[host] = self._build_client(host)
            return found

    def repository_admin(self, host: str) -> RepositoryAdmin:
        with self._lock:
            admin = self._admins.get(host)
            if admin is None:
                if self.registries.auth_kind(host) is AuthKind.ECR:
                    admin = EcrRepositoryAdmin(self._ecr_client, self._ecr_targets())
                else:
                    admin = NoopRepositoryAdmin()
                self._admins[host] = admin
            return admin

    def scanner(self, host: str) -> ImageScanner:
        """ECR image scans for ECR hosts, Container Analysis for Artifact Registry hosts."""
        with self._lock:
            found = self._scanners.get(host)
            if found is not None:
                return found
            targets = self._ecr_targets()
            if host in targets or ecr_host(host):
                found = EcrImageScanner(self._ecr_client, targets)
            elif gar_host(host):
                if self._scan_http is None:
                    self._scan_http = httpx.Client(timeout=30.0)
                found = ContainerAnalysisScanner(
                    self._scan_http, self.credential_provider(host), self._scan_endpoint
                )
            else:
                raise Unsupported(
                    f"the scan gate reads scans from ECR and Artifact Registry; {host} is neither"
                )
            self._scanners[host] = found
            return found

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.transport.close()
                client.transport.auth.close()
            self._clients.clear()
            self._scanners.clear()
            if self._scan_http is not None:
                self._scan_http.close()
                self._scan_http = None

    # -- building -----------------------------------------------------------------------

    def _build_client(self, host: str) -> RegistryClient:
        config = self.registries.get(host)
        tls = self.registries.tls(host)
        verify = tls is not TlsMode.INSECURE
        token_client = httpx.Client(verify=verify, timeout=30.0, follow_redirects=True)
        auth = RegistryAuth(host, self.credential_provider(host), token_client)
        transport = RegistryTransport(
            host,
            self.registries.endpoint(host),
            auth,
            verify_tls=verify,
            max_connections=config.max_concurrency,
            retry=self._retry,
        )
        return RegistryClient(host, transport, config.chunk_size)

    def credential_provider(self, host: str) -> CredentialProvider:
        base = self._base_provider(host)
        if host in self._overrides:
            return ChainCredentialProvider(
                [StaticCredentialProvider({host: self._overrides[host]}), base]
            )
        return base

    def _base_provider(self, host: str) -> CredentialProvider:
        kind = self.registries.auth_kind(host)
        auth = self.registries.get(host).auth
        if kind is AuthKind.ANONYMOUS:
            return AnonymousProvider()
        if kind is AuthKind.BASIC:
            if auth.username is None:
                raise InvalidInput(f"registries config: {host} uses basic auth without username")
            if auth.password_env:
                return EnvCredentialProvider({host: (auth.username, auth.password_env)})
            if auth.password is None:
                raise InvalidInput(f"registries config: {host} uses basic auth without password")
            return StaticCredentialProvider(
                {host: Credential(username=auth.username, password=auth.password)}
            )
        if kind is AuthKind.ECR:
            return self._ecr_provider
        if kind is AuthKind.GAR:
            return GarCredentialProvider(key_file=auth.service_account_key_file)
        return ChainCredentialProvider([DockerConfigCredentialProvider(), AnonymousProvider()])

    def _ecr_targets(self) -> dict[str, tuple[str, str]]:
        """Hosts that are not ECR-shaped but stand for an ECR registry (e.g. a local one)."""
        targets: dict[str, tuple[str, str]] = {}
        for host in self.registries.hosts():
            auth = self.registries.get(host).auth
            if auth.registry_id and auth.region:
                targets[host] = (auth.registry_id, auth.region)
        return targets

    @cached_property
    def _ecr_provider(self) -> EcrCredentialProvider:
        return EcrCredentialProvider(self._ecr_client, self._ecr_targets())

    def _ecr_client(self, region: str) -> Any:
        return self._boto_client("ecr", region)

    def _boto_client(self, service: str, region: str) -> Any:
        key = (service, region)
        client = self._boto.get(key)
        if client is None:
            import boto3  # noqa: PLC0415 - deferred: keeps imports and cold starts light

            client = self._boto[key] = boto3.client(service, region_name=region)  # type: ignore[call-overload]
        return client


def load_document_text(spec: str, s3: Any, ssm: Any) -> tuple[str, str]:
    """A document's text (rules, syncs) and a name for errors, from a path, `s3://b/k` or
    `ssm:/name`."""
    try:
        if spec.startswith("s3://"):
            bucket, _, key = spec[5:].partition("/")
            body = s3().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            return body, spec
        if spec.startswith("ssm:"):
            name = spec[4:]
            value = ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            return str(value), spec
        return Path(spec).read_text(), spec
    except OSError as exc:
        raise InvalidInput(f"cannot read rules {spec}: {exc.strerror}") from None
    except (ClientError, BotoCoreError) as exc:
        raise aws_error(exc, Where(registry=spec, operation="load rules")) from None


class Pipeline:
    """Everything the serverless handlers need, built on first use and cached while warm."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._boto: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._boto:
                import boto3  # noqa: PLC0415 - deferred: no client at import time

                self._boto[service] = boto3.client(  # type: ignore[call-overload]
                    service, region_name=self.settings.region
                )
            return self._boto[service]

    def _require(self, value: str | None, variable: str) -> str:
        if not value:
            raise InvalidInput(f"{variable} is not set")
        return value

    @cached_property
    def container(self) -> Container:
        path = Path(self.settings.registries) if self.settings.registries else None
        endpoint = self.settings.container_analysis_endpoint or DEFAULT_ENDPOINT
        return Container(Registries.load(path), scan_endpoint=endpoint)

    @cached_property
    def rules(self) -> RulesDocument:
        spec = self._require(self.settings.rules, ENV_RULES)
        text, origin = load_document_text(
            spec, lambda: self._client("s3"), lambda: self._client("ssm")
        )
        return parse_rules(text, origin)

    @cached_property
    def queue(self) -> WorkQueue:
        url = self._require(self.settings.queue_url, ENV_QUEUE_URL)
        return SqsWorkQueue(self._client("sqs"), url)

    @cached_property
    def _table(self) -> Any:
        import boto3  # noqa: PLC0415

        table = self._require(self.settings.table, ENV_TABLE)
        return boto3.resource("dynamodb", region_name=self.settings.region).Table(table)

    @cached_property
    def state(self) -> StateStore:
        return DynamoStateStore(self._table)

    @cached_property
    def scan_waits(self) -> ScanWaits:
        return DynamoScanWaits(self._table)

    @cached_property
    def gate(self) -> ScanGate | None:
        """The scan-gate state machine, where the deployment names one."""
        arn = self.settings.scan_gate_arn
        return StepFunctionsScanGate(self._client("stepfunctions"), arn) if arn else None

    def check_scan(self, request: CheckScanRequest) -> CheckScanResult:
        return check_scan(request, self.container)

    def evaluate_scan(self, request: ScanTask) -> Verdict:
        return evaluate_scan(request, self.container)

    def park_scan_wait(self, request: ParkRequest) -> None:
        park_wait(request, self.scan_waits)

    def wake_gates(self, scan: ScanFinished) -> WakeReport:
        gate = self.gate
        if gate is None:
            raise InvalidInput(f"{ENV_SCAN_GATE_ARN} is not set: there is no gate to wake")
        return wake_waiting_gates(scan.image(), self.scan_waits, gate)

    @cached_property
    def _idempotency_config(self) -> Any:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415

        return IdempotencyConfig(
            event_key_jmespath="[event_id, digest]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=24 * 3600,
        )

    @cached_property
    def _idempotent_accept(self) -> Callable[..., IntakeResult]:
        from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
            DynamoDBPersistenceLayer,
            idempotent_function,
        )
        from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import (  # noqa: PLC0415
            PydanticSerializer,
        )

        table = self._require(self.settings.table, ENV_TABLE)
        store = DynamoDBPersistenceLayer(
            table_name=table,
            key_attr="PK",
            sort_key_attr="SK",
            expiry_attr="expires_at",
            static_pk_value="IDEMPOTENCY",
            boto3_client=self._client("dynamodb"),
        )
        config = self._idempotency_config

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="event",
            persistence_store=store,
            config=config,
            output_serializer=PydanticSerializer(IntakeResult),
        )
        def accept(event: ImageEvent, correlation_id: str) -> IntakeResult:
            return accept_event(
                event,
                self.rules,
                queue=self.queue,
                state=self.state,
                gate=self.gate,
                correlation_id=correlation_id,
            )

        return accept  # type: ignore[no-any-return]

    def accept(
        self, event: ImageEvent, correlation_id: str = "", lambda_context: Any = None
    ) -> IntakeResult:
        """Plan and enqueue an event once, however often it is delivered."""
        if lambda_context is not None:  # lets an in-progress record expire with the invocation
            self._idempotency_config.register_lambda_context(lambda_context)
        return self._idempotent_accept(event=event, correlation_id=correlation_id)

    def process(self, item: WorkItem) -> ItemOutcome:
        return process_item(item, self.container, self.state, self.settings.jobs, self.queue)

    @cached_property
    def notifications(self) -> NotificationSource:
        from google.cloud import pubsub_v1  # noqa: PLC0415 - only the poller needs it

        subscription = self._require(self.settings.gar_subscription, ENV_GAR_SUBSCRIPTION)
        return PubSubNotificationSource(pubsub_v1.SubscriberClient(), subscription)

    def poll_gar(self) -> PollReport:
        return poll_notifications(self.notifications, self.accept)

    @cached_property
    def syncs(self) -> SyncFile:
        spec = self._require(self.settings.syncs, ENV_SYNCS)
        text, origin = load_document_text(
            spec, lambda: self._client("s3"), lambda: self._client("ssm")
        )
        return parse_sync_file(text, origin)

    def start_tree(self, spec: SyncSpec) -> str:
        return start_tree(spec, self.container, queue=self.queue, state=self.state)

    def replicate_now(self, request: ReplicateNowRequest) -> CopyReport:
        return replicate_now(request, self.container, self.settings.jobs)

    def extend_visibility(self, receipt_handle: str, seconds: int) -> None:
        url = self._require(self.settings.queue_url, ENV_QUEUE_URL)
        self._client("sqs").change_message_visibility(
            QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )


_PIPELINE: Pipeline | None = None


def pipeline() -> Pipeline:
    """The process-wide pipeline (one per warm Lambda)."""
    global _PIPELINE  # noqa: PLW0603 - the warm-container cache is the point
    if _PIPELINE is None:
        _PIPELINE = Pipeline()
    return _PIPELINE


def reset_pipeline() -> None:
    """Forget the cached pipeline, e.g. after the environment changed (tests, local invoke)."""
    global _PIPELINE  # noqa: PLW0603
    _PIPELINE = None
