"""The composition root: the only place that picks concrete adapters and builds clients.

Everything is built lazily on first use and cached while the process (or a warm Lambda) lives:
no boto3 client, config read or network happens at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.credential_sources import ReferencedKeys, WebIdentityRole
from freightliner.adapters.aws.dynamo_scan_waits import DynamoScanWaits
from freightliner.adapters.aws.dynamo_state import DynamoStateStore
from freightliner.adapters.aws.ecr_auth import EcrCredentialProvider, EcrTarget, ecr_target
from freightliner.adapters.aws.ecr_repositories import EcrRepositoryAdmin
from freightliner.adapters.aws.ecr_scans import EcrImageScanner
from freightliner.adapters.aws.errors import aws_error
from freightliner.adapters.aws.eventbridge_notifier import EventBridgeJobNotifier
from freightliner.adapters.aws.secrets_manager import AwsSecretStore
from freightliner.adapters.aws.sessions import AwsClients, CredentialSource
from freightliner.adapters.aws.sqs_queue import SqsWorkQueue
from freightliner.adapters.aws.step_functions_gate import StepFunctionsScanGate
from freightliner.adapters.aws.tree_schedules import TreeSchedules
from freightliner.adapters.credential_refs import (
    DEFAULT_TTL,
    ReferenceCredentialProvider,
    ReferenceResolver,
)
from freightliner.adapters.gcp import google_credentials
from freightliner.adapters.gcp.container_analysis import DEFAULT_ENDPOINT, ContainerAnalysisScanner
from freightliner.adapters.gcp.gar_auth import GarCredentialProvider
from freightliner.adapters.gcp.gar_catalog import API_ENDPOINT as GAR_API_ENDPOINT
from freightliner.adapters.gcp.gar_catalog import ArtifactRegistryCatalog
from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.adapters.gcp.pubsub_source import API_ENDPOINT as PUBSUB_ENDPOINT
from freightliner.adapters.gcp.pubsub_source import FORBIDDEN_HINT as PUBSUB_HINT
from freightliner.adapters.gcp.pubsub_source import PubSubNotificationSource
from freightliner.adapters.gcp.secret_manager import API_ENDPOINT as SECRET_MANAGER_ENDPOINT
from freightliner.adapters.gcp.secret_manager import GcpSecretStore
from freightliner.adapters.local.noop_repositories import NoopRepositoryAdmin
from freightliner.adapters.local.static_creds import (
    AnonymousProvider,
    ChainCredentialProvider,
    DockerConfigCredentialProvider,
    StaticCredentialProvider,
)
from freightliner.domain.errors import InvalidInput, Unsupported, Where
from freightliner.domain.events import ImageEvent, ScanFinished
from freightliner.domain.reference import ecr_host, gar_host
from freightliner.domain.registries import AuthConfig, AuthKind, Registries, TlsMode
from freightliner.domain.rules import RulesDocument, parse_rules
from freightliner.domain.scans import Verdict
from freightliner.domain.secrets import RefScheme, SecretRef, StoreKind
from freightliner.domain.sync import SyncFile, SyncSpec, parse_sync_file
from freightliner.domain.work import WorkItem
from freightliner.engine.gar_poll import PollReport, poll_notifications
from freightliner.engine.intake import IntakeResult, accept_event
from freightliner.engine.job_end import JobNotifiers
from freightliner.engine.job_resume import ResumeReport, resume_job
from freightliner.engine.models import CopyReport
from freightliner.engine.replicate_now import ReplicateNowRequest, replicate_now
from freightliner.engine.scan_gate import (
    CheckScanRequest,
    CheckScanResult,
    GateRecord,
    ParkRequest,
    RecordGateRequest,
    ScanTask,
    WakeReport,
    check_scan,
    evaluate_scan,
    park_wait,
    record_gate_outcome,
    wake_waiting_gates,
)
from freightliner.engine.tree_fanout import start_tree
from freightliner.engine.worker import ItemOutcome, process_item
from freightliner.ports.credentials import Credential, CredentialProvider
from freightliner.ports.repositories import RepositoryAdmin
from freightliner.ports.scans import ImageScanner, ScanWaits
from freightliner.ports.secrets import SecretStore
from freightliner.ports.work import (
    JobNotifier,
    NotificationSource,
    ScanGate,
    StateStore,
    WorkQueue,
)
from freightliner.registry.auth import RegistryAuth
from freightliner.registry.client import RegistryClient
from freightliner.registry.retry import RetryPolicy
from freightliner.registry.transport import RegistryTransport
from freightliner.settings import (
    ENV_GAR_SUBSCRIPTION,
    ENV_GCP_SECRETMANAGER_ENDPOINT,
    ENV_QUEUE_URL,
    ENV_REGISTRIES,
    ENV_RULES,
    ENV_SCAN_GATE_ARN,
    ENV_SCHEDULER_ROLE_ARN,
    ENV_SECRET_TTL,
    ENV_START_TREE_ARN,
    ENV_SYNCS,
    ENV_TABLE,
    Settings,
    aws_region,
)


class SecretStores:
    """Secret stores per (cloud, region or project), built on first use and cached."""

    def __init__(self, aws: AwsClients) -> None:
        self._aws = aws
        self._lock = threading.Lock()
        self._stores: dict[tuple[StoreKind, str], SecretStore] = {}

    def get(self, kind: StoreKind, location: str | None = None) -> SecretStore:
        """`location` is an AWS region (default: the process's) or a GCP project (required)."""
        if kind is StoreKind.GCP and not location:
            raise InvalidInput("GCP Secret Manager needs a project (--project or the reference)")
        key = (kind, location or aws_region())
        # Google's credentials load outside the lock (a metadata probe may take 2 s).
        google = self._google_credentials if kind is StoreKind.GCP else None
        with self._lock:
            found = self._stores.get(key)
            if found is None:
                found = self._stores[key] = (
                    self._aws_store(key[1]) if google is None else self._gcp_store(key[1], google)
                )
            return found

    def for_reference(self, ref: SecretRef) -> SecretStore:
        if ref.scheme is RefScheme.GCP_SM:
            return self.get(StoreKind.GCP, ref.project)
        return self.get(StoreKind.AWS, ref.aws_region)

    def _aws_store(self, region: str) -> SecretStore:
        return AwsSecretStore(
            self._aws.client("secretsmanager", region),
            region,
            lambda: self._aws.client("sts", region),
        )

    @cached_property
    def _google_credentials(self) -> Any:
        """Application-default credentials, loaded once for every project's store."""
        return google_credentials.application_default()

    @cached_property
    def _google_rest(self) -> GoogleRest:
        """Secret Manager's REST API, one token for every project's store."""
        provider = GarCredentialProvider(load=lambda: self._google_credentials)
        hint = "the caller needs the Secret Manager role that grants it"
        return GoogleRest(httpx.Client(timeout=30.0), provider, forbidden_hint=hint, attempts=3)

    def _gcp_store(self, project: str, credentials: Any) -> SecretStore:
        endpoint = os.environ.get(ENV_GCP_SECRETMANAGER_ENDPOINT) or SECRET_MANAGER_ENDPOINT
        return GcpSecretStore(self._google_rest, project, credentials, endpoint)


class Container:
    """Registry clients, credential providers and repository admins, one per host, cached."""

    def __init__(
        self,
        registries: Registries | None = None,
        credentials: dict[str, Credential] | None = None,
        retry: RetryPolicy | None = None,
        aws: AwsClients | None = None,
        scan_endpoint: str = DEFAULT_ENDPOINT,
        *,
        auth_file: Path | None = None,
    ) -> None:
        self._registries = registries
        self._auth_file = auth_file
        self._overrides = dict(credentials or {})
        self._retry = retry or RetryPolicy()
        self._scan_endpoint = scan_endpoint
        self._lock = threading.Lock()
        self._clients: dict[str, RegistryClient] = {}
        self._admins: dict[str, RepositoryAdmin] = {}
        self.aws = aws or AwsClients()
        self._scanners: dict[str, ImageScanner] = {}
        self._providers: dict[str, CredentialProvider] = {}
        self._providers_lock = threading.Lock()

    @classmethod
    def from_environment(
        cls,
        registries_file: Path | None = None,
        credentials: dict[str, Credential] | None = None,
        tls: Mapping[str, TlsMode] | None = None,
        auth_file: Path | None = None,
    ) -> Container:
        """The CLI's container: the registries config (with the command line's TLS modes
        over it), the auth file it names, and the AWS credentials (the default chain, or
        FREIGHTLINER_AWS_ROLE_ARN / FREIGHTLINER_AWS_CREDENTIALS) the environment names."""
        path = registries_file or (
            Path(os.environ[ENV_REGISTRIES]) if os.environ.get(ENV_REGISTRIES) else None
        )
        aws = AwsClients(aws_credential_source(Settings.from_env()))
        registries = Registries.load(path).with_tls(tls or {})
        return cls(registries, credentials, aws=aws, auth_file=auth_file)

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
                admin = self._build_admin(host)
                self._admins[host] = admin
            return admin

    @cached_property
    def _api_http(self) -> httpx.Client:
        """HTTP for control-plane REST APIs (Artifact Registry, Container Analysis), shared by
        every host."""
        return httpx.Client(timeout=30.0)

    def scanner(self, host: str) -> ImageScanner:
        """ECR image scans for ECR hosts, Container Analysis for Artifact Registry hosts."""
        with self._lock:
            found = self._scanners.get(host)
            if found is not None:
                return found
            if host in self._ecr_targets or ecr_host(host):
                found = self._ecr_scanner
            elif gar_host(host):
                found = ContainerAnalysisScanner(
                    self._api_http, self.credential_provider(host), self._scan_endpoint
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
            if "_api_http" in self.__dict__:
                self.__dict__.pop("_api_http").close()

    # -- building -----------------------------------------------------------------------

    def _build_admin(self, host: str) -> RepositoryAdmin:
        """ECR's control plane; Artifact Registry's REST API where the host is GAR (its
        auth is Google's, or an `api_endpoint` is configured); else the registry API."""
        kind = self.registries.auth_kind(host)
        if kind is AuthKind.ECR:
            return EcrRepositoryAdmin(self.aws, self._ecr_targets)
        location = gar_host(host)
        api = self.registries.get(host).api_endpoint
        if location is not None and (kind is AuthKind.GAR or api):
            return ArtifactRegistryCatalog(
                host,
                location.location,
                self.credential_provider(host),
                self._api_http,
                api or GAR_API_ENDPOINT,
            )
        return NoopRepositoryAdmin()

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
            limits=config.limits,
            retry=self._retry,
        )
        return RegistryClient(host, transport, config.chunk_size)

    def credential_provider(self, host: str) -> CredentialProvider:
        """One provider per host, shared by its registry client and its control-plane
        readers: credentials load once, and a 401 anywhere refreshes them for all."""
        with self._providers_lock:  # not self._lock: its holders call this
            found = self._providers.get(host)
            if found is None:
                found = self._base_provider(host)
                if host in self._overrides:
                    found = ChainCredentialProvider(
                        [StaticCredentialProvider({host: self._overrides[host]}), found]
                    )
                self._providers[host] = found
            return found

    def _base_provider(self, host: str) -> CredentialProvider:
        kind = self.registries.auth_kind(host)
        auth = self.registries.get(host).auth
        if kind is AuthKind.ANONYMOUS:
            return AnonymousProvider()
        if kind is AuthKind.BASIC:
            return self._basic_provider(host, auth)
        if kind is AuthKind.ECR:
            return self._ecr_provider
        if kind is AuthKind.GAR:
            return self._gar_provider(auth)
        return ChainCredentialProvider(
            [DockerConfigCredentialProvider(self._auth_file), AnonymousProvider()]
        )

    def _basic_provider(self, host: str, auth: AuthConfig) -> CredentialProvider:
        if auth.username is None:
            raise InvalidInput(f"registries config: {host} uses basic auth without username")
        reference = auth.password_ref or (
            SecretRef(scheme=RefScheme.ENV, name=auth.password_env) if auth.password_env else None
        )
        if reference is not None:
            return ReferenceCredentialProvider(auth.username, reference, self.secret_references)
        if auth.password is None:
            raise InvalidInput(f"registries config: {host} uses basic auth without password")
        return StaticCredentialProvider(
            {host: Credential(username=auth.username, password=auth.password)}
        )

    def _gar_provider(self, auth: AuthConfig) -> GarCredentialProvider:
        reference, key_file = auth.credentials_ref, auth.service_account_key_file
        if reference is not None:
            resolver = self.secret_references
            return GarCredentialProvider(
                load=lambda: google_credentials.from_json(
                    resolver.resolve(reference).get_secret_value(), str(reference)
                ),
                forget=lambda: resolver.invalidate(reference),
            )
        if key_file is not None:
            return GarCredentialProvider(load=lambda: google_credentials.from_file(key_file))
        return GarCredentialProvider()

    @cached_property
    def secret_stores(self) -> SecretStores:
        return SecretStores(self.aws)

    @cached_property
    def secret_references(self) -> ReferenceResolver:
        return ReferenceResolver(self.secret_stores.for_reference, ttl=_secret_ttl())

    @cached_property
    def _ecr_targets(self) -> dict[str, EcrTarget]:
        """Hosts mapped onto an ECR registry (a local one, say) or called through a role."""
        targets: dict[str, EcrTarget] = {}
        for host in self.registries.hosts():
            auth = self.registries.get(host).auth
            if auth.registry_id and auth.region:
                targets[host] = EcrTarget(auth.registry_id, auth.region, auth.role_arn)
            elif auth.role_arn:
                default = ecr_target(host, {})
                targets[host] = EcrTarget(default.registry_id, default.region, auth.role_arn)
        return targets

    @cached_property
    def _ecr_provider(self) -> EcrCredentialProvider:
        return EcrCredentialProvider(self.aws, self._ecr_targets)

    @cached_property
    def _ecr_scanner(self) -> EcrImageScanner:
        return EcrImageScanner(self.aws, self._ecr_targets)


def _secret_ttl() -> float:
    return float(os.environ.get(ENV_SECRET_TTL) or DEFAULT_TTL)


def aws_credential_source(settings: Settings) -> CredentialSource | None:
    """Where the functions' AWS credentials come from when they run outside AWS: a role
    assumed with this instance's Google ID token, or keys in a secret; None: the default
    chain. Nothing is read until the first AWS call is signed."""
    if settings.aws_role_arn:
        audience = settings.aws_web_identity_audience
        return WebIdentityRole(
            settings.aws_role_arn,
            settings.region,
            lambda: google_credentials.identity_token(audience),
        )
    if settings.aws_credentials:
        # Its own resolver and stores: an aws-sm:// reference is read with the default chain,
        # never with the keys it holds.
        resolver = ReferenceResolver(SecretStores(AwsClients()).for_reference, ttl=_secret_ttl())
        return ReferencedKeys(resolver, settings.aws_credentials)
    return None


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
        self.aws = AwsClients(aws_credential_source(self.settings))

    def _client(self, service: str) -> Any:
        return self.aws.client(service, self.settings.region)

    def _require(self, value: str | None, variable: str) -> str:
        if not value:
            raise InvalidInput(f"{variable} is not set")
        return value

    @cached_property
    def container(self) -> Container:
        path = Path(self.settings.registries) if self.settings.registries else None
        endpoint = self.settings.container_analysis_endpoint or DEFAULT_ENDPOINT
        return Container(Registries.load(path), aws=self.aws, scan_endpoint=endpoint)

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
        table = self._require(self.settings.table, ENV_TABLE)
        return self.aws.resource("dynamodb", self.settings.region).Table(table)

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

    def record_gate_outcome(self, request: RecordGateRequest) -> GateRecord:
        return record_gate_outcome(request, self.state, self.notifier)

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
                notifier=self.notifier,
            )

        return accept  # type: ignore[no-any-return]

    def accept(
        self, event: ImageEvent, correlation_id: str = "", lambda_context: Any = None
    ) -> IntakeResult:
        """Plan and enqueue an event once, however often it is delivered. `lambda_context` (or
        an InvocationDeadline where the runtime has none) makes a record left in progress by an
        invocation that died expire when that invocation would have ended."""
        if lambda_context is not None:  # lets an in-progress record expire with the invocation
            self._idempotency_config.register_lambda_context(lambda_context)
        return self._idempotent_accept(event=event, correlation_id=correlation_id)

    @cached_property
    def notifier(self) -> JobNotifier:
        """A job's end as metrics, and as an event where the deployment names a bus."""
        from freightliner.observability import JobEndMetrics  # noqa: PLC0415 - Powertools

        if not self.settings.event_bus:
            return JobEndMetrics()
        events = EventBridgeJobNotifier(self._client("events"), self.settings.event_bus)
        return JobNotifiers(events, JobEndMetrics())

    def process(self, item: WorkItem) -> ItemOutcome:
        return process_item(
            item,
            self.container,
            self.state,
            self.settings.jobs,
            queue=self.queue,
            notifier=self.notifier,
        )

    @cached_property
    def notifications(self) -> NotificationSource:
        """The GAR notifications subscription, over Pub/Sub's REST API with application-default
        Google credentials."""
        subscription = self._require(self.settings.gar_subscription, ENV_GAR_SUBSCRIPTION)
        rest = GoogleRest(
            httpx.Client(timeout=30.0), GarCredentialProvider(), forbidden_hint=PUBSUB_HINT
        )
        endpoint = self.settings.pubsub_endpoint or PUBSUB_ENDPOINT
        return PubSubNotificationSource(rest, subscription, endpoint)

    def poll_gar(self, lambda_context: Any = None) -> PollReport:
        """Pull GAR notifications and accept each; `lambda_context` bounds idempotency records
        left in progress, as for `accept`."""

        def accept(event: ImageEvent, correlation_id: str) -> IntakeResult:
            return self.accept(event, correlation_id, lambda_context)

        return poll_notifications(self.notifications, accept)

    @cached_property
    def syncs(self) -> SyncFile:
        spec = self._require(self.settings.syncs, ENV_SYNCS)
        text, origin = load_document_text(
            spec, lambda: self._client("s3"), lambda: self._client("ssm")
        )
        return parse_sync_file(text, origin)

    def start_tree(self, spec: SyncSpec) -> str:
        job_id, _ = start_tree(
            spec, self.container, queue=self.queue, state=self.state, notifier=self.notifier
        )
        return job_id

    def tree_schedules(self) -> TreeSchedules:
        return TreeSchedules(
            self._client("scheduler"),
            self._require(self.settings.start_tree_arn, ENV_START_TREE_ARN),
            self._require(self.settings.scheduler_role_arn, ENV_SCHEDULER_ROLE_ARN),
        )

    def resume(self, job_id: str, retry_failed: bool = False) -> ResumeReport:
        return resume_job(
            job_id,
            self.container,
            queue=self.queue,
            state=self.state,
            retry_failed=retry_failed,
            notifier=self.notifier,
        )

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
