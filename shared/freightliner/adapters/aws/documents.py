"""Configuration documents (rules, sync files) read from a path, `s3://bucket/key` or
`ssm:/parameter/name`, so a deployment can keep them outside the code package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.adapters.aws.errors import aws_error
from freightliner.domain.errors import InvalidInput, Where


def load_document_text(spec: str, s3: Callable[[], Any], ssm: Callable[[], Any]) -> tuple[str, str]:
    """A document's text and a name for errors; `s3` and `ssm` build their clients only when
    the spec names them."""
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
