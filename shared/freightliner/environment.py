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
# The CLI ships its log lines to this CloudWatch log group (one stream per run) when set.
ENV_LOG_GROUP = "FREIGHTLINER_LOG_GROUP"
# The functions write their audit events to this log group (retained a year) when set.
ENV_AUDIT_LOG_GROUP = "FREIGHTLINER_AUDIT_LOG_GROUP"
# The Google Cloud project the Cloud Function's trace ids belong to (Cloud Logging's trace
# field is projects/<project>/traces/<id>).
ENV_GOOGLE_CLOUD_PROJECT = "GOOGLE_CLOUD_PROJECT"
