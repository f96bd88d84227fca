"""The Google Cloud Function's factory (functions/on_gar_push/main.py): the same AWS pipeline
parts the Lambda functions use (once-per-event intake onto the SQS queue, registry clients for
`replicate_now`), signed with the AWS credentials FREIGHTLINER_AWS_ROLE_ARN or
FREIGHTLINER_AWS_CREDENTIALS name, since the function runs outside AWS."""

from __future__ import annotations

from freightliner.bootstrap.aws_pipeline import AwsPipeline

_ROOT: AwsPipeline | None = None


def cloud_function_root() -> AwsPipeline:
    """The instance's root, built from the environment on first use."""
    global _ROOT  # noqa: PLW0603 - the warm-instance cache is the point
    if _ROOT is None:
        from freightliner.settings import Settings  # noqa: PLC0415 - read on first use

        _ROOT = AwsPipeline(Settings.from_env())
    return _ROOT


def forget_cloud_function_root() -> None:
    """Drop the cached root so the next request reads the environment again (tests)."""
    global _ROOT  # noqa: PLW0603
    _ROOT = None
