"""Configuration documents (rules, sync files) read from a path, `s3://bucket/key` or
`ssm:/parameter/name`, so a deployment can keep them outside the code package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.documents import MAX_DOCUMENT_BYTES, decode_document, read_document
from freightliner.domain.errors import ConfigurationError, InvalidInput, Where

T = TypeVar("T")


def load_document_text(spec: str, s3: Callable[[], Any], ssm: Callable[[], Any]) -> tuple[str, str]:
    """A document's text and a name for errors; `s3` and `ssm` build their clients only when
    the spec names them. A document that is missing, denied or unreadable is a
    ConfigurationError (no event is consumed while it is); a throttled or unreachable store
    stays retryable."""
    try:
        if spec.startswith("s3://"):
            bucket, _, key = spec[5:].partition("/")
            body = s3().get_object(Bucket=bucket, Key=key)["Body"].read(MAX_DOCUMENT_BYTES + 1)
            return decode_document(body, spec), spec
        if spec.startswith("ssm:"):
            name = spec[4:]
            value = ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            return str(value), spec
        return read_document(Path(spec), spec), spec
    except InvalidInput as exc:  # unreadable, too large or not text: the deployment's error
        raise ConfigurationError(str(exc)) from None
    except (ClientError, BotoCoreError) as exc:
        error = aws_error(exc, Where(registry=spec, operation="load document"))
        if error.retryable:
            raise error from None
        raise ConfigurationError(str(error)) from None


def parsed_document(parse: Callable[[str, str], T], text: str, origin: str) -> T:
    """A rules or sync document parsed; an invalid one is the deployment's error."""
    try:
        return parse(text, origin)
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from None
