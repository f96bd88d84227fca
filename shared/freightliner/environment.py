"""The environment variable names the deployment sets, in one module that imports nothing:
handlers name the settings they require without loading the settings model at cold start."""

ENV_QUEUE_URL = "FREIGHTLINER_QUEUE_URL"
ENV_TABLE = "FREIGHTLINER_TABLE"
ENV_RULES = "FREIGHTLINER_RULES"  # a path, s3://bucket/key, or ssm:/parameter/name
ENV_SYNCS = "FREIGHTLINER_SYNCS"  # the sync file for scheduled tree syncs: path, s3:// or ssm:
ENV_REGISTRIES = "FREIGHTLINER_REGISTRIES"
ENV_JOBS = "FREIGHTLINER_JOBS"
ENV_SRC_CREDS = "FREIGHTLINER_SRC_CREDS"
ENV_DEST_CREDS = "FREIGHTLINER_DEST_CREDS"
ENV_GAR_SUBSCRIPTION = "FREIGHTLINER_GAR_SUBSCRIPTION"  # projects/P/subscriptions/S
ENV_EVENT_BUS = "FREIGHTLINER_EVENT_BUS"  # optional: job-finished events go to this bus
ENV_START_TREE_ARN = "FREIGHTLINER_START_TREE_ARN"  # `tree schedule`: what schedules invoke
ENV_SCHEDULER_ROLE_ARN = "FREIGHTLINER_SCHEDULER_ROLE_ARN"  # and the role they invoke it as
ENV_SCAN_GATE_ARN = "FREIGHTLINER_SCAN_GATE_ARN"  # the scan-gate state machine; empty = no gate
ENV_FAILED_EVENTS_URL = "FREIGHTLINER_FAILED_EVENTS_URL"  # `events redrive`: failed events
ENV_DLQ_URL = "FREIGHTLINER_DLQ_URL"  # `events redrive`: dead-lettered work items
# `tree schedule`: where EventBridge Scheduler dead-letters an invocation it could not deliver
ENV_FAILED_EVENTS_ARN = "FREIGHTLINER_FAILED_EVENTS_ARN"
ENV_CONTAINER_ANALYSIS_ENDPOINT = "FREIGHTLINER_CONTAINER_ANALYSIS_ENDPOINT"  # GAR scans
ENV_CHECKPOINT_KEY = "FREIGHTLINER_CHECKPOINT_KEY"  # a key file for local checkpoints
ENV_REGION = "AWS_REGION"
ENV_SECRET_TTL = "FREIGHTLINER_SECRET_TTL"  # noqa: S105 - a variable name; seconds a resolved credential reference is reused
# Where GCP Secret Manager's REST API is (default: Google's); like AWS_ENDPOINT_URL for boto3.
ENV_GCP_SECRETMANAGER_ENDPOINT = "FREIGHTLINER_GCP_SECRETMANAGER_ENDPOINT"
# Seconds a Cloud Function invocation may run (its --timeout): bounds idempotency records.
ENV_FUNCTION_TIMEOUT = "FREIGHTLINER_FUNCTION_TIMEOUT"
DEFAULT_FUNCTION_TIMEOUT = 60  # Cloud Functions' default
# Where Pub/Sub's REST API is (default: Google's), for the GAR poller's subscription.
ENV_PUBSUB_ENDPOINT = "FREIGHTLINER_PUBSUB_ENDPOINT"
# AWS credentials outside AWS (the GCP function), instead of the default chain: an IAM role
# assumed with the instance's Google ID token for this audience, or a credential reference
# to AWS keys JSON.
ENV_AWS_ROLE_ARN = "FREIGHTLINER_AWS_ROLE_ARN"
ENV_AWS_WEB_IDENTITY_AUDIENCE = "FREIGHTLINER_AWS_WEB_IDENTITY_AUDIENCE"
ENV_AWS_CREDENTIALS = "FREIGHTLINER_AWS_CREDENTIALS"
DEFAULT_WEB_IDENTITY_AUDIENCE = "sts.amazonaws.com"
# Blobs of at least this many bytes keep their upload session with the work item, so another
# invocation continues them; and seconds before the function's deadline a copy hands off.
ENV_RESUMABLE_UPLOAD_BYTES = "FREIGHTLINER_RESUMABLE_UPLOAD_BYTES"
DEFAULT_RESUMABLE_UPLOAD_BYTES = 64 * 1024 * 1024
ENV_HANDOFF_MARGIN = "FREIGHTLINER_HANDOFF_MARGIN"
DEFAULT_HANDOFF_MARGIN = 60  # longer than one upload chunk takes, with the handoff's writes
# `freightliner trace`: the stack's log groups (comma-separated; the stack's LogGroups output),
# or the stack whose AWS::Logs::LogGroup resources they are, and the GCP project whose Cloud
# Logging holds the Cloud Function's lines (default: the GAR subscription's project).
ENV_LOG_GROUPS = "FREIGHTLINER_LOG_GROUPS"
ENV_STACK = "FREIGHTLINER_STACK"
ENV_GCP_PROJECT = "FREIGHTLINER_GCP_PROJECT"
# Where Cloud Logging's REST API is (default: Google's).
ENV_GCP_LOGGING_ENDPOINT = "FREIGHTLINER_GCP_LOGGING_ENDPOINT"
# Powertools' own: the service dimension and log key, and the metrics namespace (template.yaml).
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
# botocore's retry mode for every AWS client: standard (default) or adaptive.
ENV_AWS_RETRY_MODE = "FREIGHTLINER_AWS_RETRY_MODE"
# How many copies of the replicate function run at most (the template's ReplicateConcurrency):
# each process paces a registry at its configured rate divided by this (`registry.pacing`).
ENV_FLEET_SIZE = "FREIGHTLINER_FLEET_SIZE"
# Outages (engine/jobs/resend.py): unavailability failures in a row that open a registry
# host's circuit breaker, the seconds it stays open, and the counted attempts of an item
# before it is recorded FAILED.
ENV_BREAKER_THRESHOLD = "FREIGHTLINER_BREAKER_THRESHOLD"
ENV_BREAKER_COOL_DOWN = "FREIGHTLINER_BREAKER_COOL_DOWN"
ENV_MAX_ATTEMPTS = "FREIGHTLINER_MAX_ATTEMPTS"
# A factor (0 < f <= 1) on every delay the pipeline waits (breaker cool-downs, re-send
# backoff, registry retry pauses): compressed-clock tests and benchmarks only.
ENV_TIME_SCALE = "FREIGHTLINER_TIME_SCALE"
# The CLI's metadata cache (listings, verified tags, blob locations): a SQLite file (default
# $XDG_CACHE_HOME/freightliner/metadata.db), or "off"; and seconds its entries are trusted.
ENV_METADATA_CACHE = "FREIGHTLINER_METADATA_CACHE"
ENV_METADATA_TTL = "FREIGHTLINER_METADATA_TTL"
# The CLI ships its log lines to this CloudWatch log group (one stream per run) when set.
ENV_LOG_GROUP = "FREIGHTLINER_LOG_GROUP"
# The functions write their audit events to this log group (retained a year) when set.
ENV_AUDIT_LOG_GROUP = "FREIGHTLINER_AUDIT_LOG_GROUP"
# The Google Cloud project the Cloud Function's trace ids belong to (Cloud Logging's trace
# field is projects/<project>/traces/<id>).
ENV_GOOGLE_CLOUD_PROJECT = "GOOGLE_CLOUD_PROJECT"
