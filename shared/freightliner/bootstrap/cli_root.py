"""The `freightliner` commands' factory: registry clients from the registries file and the
credentials given on the command line, the local checkpoint file, the serverless pipeline's
AWS parts (for `tree` and `jobs --store aws`), tree schedules and secret stores.

Each command asks for what it uses when it runs: `freightliner --help` loads none of them,
nor the settings and pydantic models they are built from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from freightliner.adapters.aws.tree_schedules import TreeSchedules
    from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints
    from freightliner.adapters.local.sqlite_metadata import SqliteMetadataCache
    from freightliner.bootstrap.aws_pipeline import AwsPipeline
    from freightliner.bootstrap.registry_clients import RegistryClients
    from freightliner.domain.registries import TlsMode
    from freightliner.domain.secrets import StoreKind
    from freightliner.ports.credentials import Credential
    from freightliner.ports.secrets import SecretStore
    from freightliner.ports.trace import LogSearch, TraceIndex


def registry_clients(
    registries_file: Path | None = None,
    credentials: dict[str, Credential] | None = None,
    tls: Mapping[str, TlsMode] | None = None,
    auth_file: Path | None = None,
) -> RegistryClients:
    """Clients for the registries file (or FREIGHTLINER_REGISTRIES) with the command line's
    TLS modes over it, `credentials` tried first for their hosts, then the auth file named
    (`--authfile`) or the default ones; close them when the command ends."""
    from freightliner.bootstrap.registry_clients import RegistryClients  # noqa: PLC0415

    return RegistryClients.from_environment(registries_file, credentials, tls, auth_file)


def checkpoints(path: Path) -> SqliteCheckpoints:
    """The local tree-sync checkpoint file, authenticated with FREIGHTLINER_CHECKPOINT_KEY's
    key file or the user's own (created on first use); close it when the command ends."""
    import os  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from freightliner.adapters.local.checkpoint_key import (  # noqa: PLC0415
        default_key_path,
        load_or_create_key,
    )
    from freightliner.adapters.local.sqlite_checkpoints import SqliteCheckpoints  # noqa: PLC0415
    from freightliner.environment import ENV_CHECKPOINT_KEY  # noqa: PLC0415

    named = os.environ.get(ENV_CHECKPOINT_KEY)
    key_path = Path(named) if named else default_key_path(os.environ.get("XDG_CONFIG_HOME"))
    return SqliteCheckpoints(path, load_or_create_key(key_path), str(key_path))


def metadata_cache() -> SqliteMetadataCache | None:
    """The metadata cache FREIGHTLINER_METADATA_CACHE names (default under XDG_CACHE_HOME),
    None when it is `off`; close it when the command ends."""
    import os  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from freightliner.adapters.local.sqlite_metadata import (  # noqa: PLC0415
        SqliteMetadataCache,
        default_cache_path,
    )
    from freightliner.environment import ENV_METADATA_CACHE  # noqa: PLC0415

    named = os.environ.get(ENV_METADATA_CACHE, "")
    if named.lower() == "off":
        return None
    path = Path(named) if named else default_cache_path(os.environ.get("XDG_CACHE_HOME"))
    return SqliteMetadataCache(path)


def metadata_ttl() -> float:
    """Seconds cached metadata is trusted (FREIGHTLINER_METADATA_TTL, default one hour)."""
    import os  # noqa: PLC0415

    from freightliner.environment import ENV_METADATA_TTL  # noqa: PLC0415
    from freightliner.settings import metadata_ttl as parse_ttl  # noqa: PLC0415

    return parse_ttl(os.environ.get(ENV_METADATA_TTL))


def aws_pipeline() -> AwsPipeline:
    """The deployed pipeline's queue, state table and event bus, as the environment names."""
    from freightliner.bootstrap.aws_pipeline import AwsPipeline  # noqa: PLC0415
    from freightliner.settings import Settings  # noqa: PLC0415

    return AwsPipeline(Settings.from_env())


def tree_schedules(pipeline: AwsPipeline) -> TreeSchedules:
    """EventBridge Scheduler's schedules that start the pipeline's tree syncs."""
    from freightliner.adapters.aws.tree_schedules import TreeSchedules  # noqa: PLC0415
    from freightliner.bootstrap.aws_pipeline import required  # noqa: PLC0415
    from freightliner.environment import ENV_SCHEDULER_ROLE_ARN, ENV_START_TREE_ARN  # noqa: PLC0415

    settings = pipeline.settings
    return TreeSchedules(
        pipeline.client("scheduler"),
        required(settings.start_tree_arn, ENV_START_TREE_ARN),
        required(settings.scheduler_role_arn, ENV_SCHEDULER_ROLE_ARN),
        dead_letter_arn=settings.failed_events_arn,
    )


def secret_store(kind: StoreKind, location: str | None) -> SecretStore:
    """AWS Secrets Manager in a region or GCP Secret Manager in a project, with the default
    AWS credential chain."""
    from freightliner.adapters.aws.sessions import AwsClients  # noqa: PLC0415
    from freightliner.adapters.secret_stores import SecretStores  # noqa: PLC0415

    return SecretStores(AwsClients()).get(kind, location)


def trace_index(pipeline: AwsPipeline) -> TraceIndex:
    """The state table's jobs and items, found by correlation id or source digest."""
    from freightliner.adapters.aws.dynamo_trace import DynamoTraceIndex  # noqa: PLC0415

    return DynamoTraceIndex(pipeline.table)


def log_searches(
    pipeline: AwsPipeline, *, timeout: float, gcp_project: str | None = None
) -> list[LogSearch]:
    """CloudWatch Logs Insights over the stack's log groups (FREIGHTLINER_LOG_GROUPS, else
    the resources of FREIGHTLINER_STACK) and Cloud Logging in the Cloud Function's project
    (`gcp_project`, FREIGHTLINER_GCP_PROJECT or the GAR subscription's); a side nothing
    locates is reported as not searched."""
    import os  # noqa: PLC0415

    from freightliner.adapters.aws.logs_insights import InsightsSearch  # noqa: PLC0415
    from freightliner.adapters.aws.stack_log_groups import stack_log_groups  # noqa: PLC0415
    from freightliner.engine.trace.timeline import Unsearched  # noqa: PLC0415
    from freightliner.environment import (  # noqa: PLC0415
        ENV_GCP_LOGGING_ENDPOINT,
        ENV_GCP_PROJECT,
        ENV_LOG_GROUPS,
        ENV_STACK,
    )

    settings = pipeline.settings
    searches: list[LogSearch] = []
    groups = settings.log_groups
    if not groups and settings.stack:
        groups = stack_log_groups(pipeline.client("cloudformation"), settings.stack)
    if groups:
        searches.append(InsightsSearch(pipeline.client("logs"), groups, timeout=timeout))
    else:
        reason = f"not searched: set {ENV_LOG_GROUPS} (the stack's LogGroups output) or {ENV_STACK}"
        searches.append(Unsearched("cloudwatch", reason))
    project = gcp_project or settings.trace_gcp_project
    if project:
        import httpx  # noqa: PLC0415

        from freightliner.adapters.gcp.cloud_logging import (  # noqa: PLC0415
            API_ENDPOINT,
            CloudLoggingSearch,
        )
        from freightliner.adapters.gcp.gar_auth import GarCredentialProvider  # noqa: PLC0415
        from freightliner.adapters.gcp.google_rest import GoogleRest  # noqa: PLC0415

        hint = "the caller needs roles/logging.viewer on the project"
        rest = GoogleRest(
            httpx.Client(timeout=timeout),
            GarCredentialProvider(),
            forbidden_hint=hint,
            attempts=3,
        )
        endpoint = os.environ.get(ENV_GCP_LOGGING_ENDPOINT) or API_ENDPOINT
        searches.append(CloudLoggingSearch(rest, project, endpoint, timeout=timeout))
    else:
        reason = f"not searched: set {ENV_GCP_PROJECT} (or --gcp-project) for the GAR side"
        searches.append(Unsearched("cloud-logging", reason))
    return searches
