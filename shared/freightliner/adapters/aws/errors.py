"""botocore failures mapped onto the project's error taxonomy."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from freightliner.domain.errors import (
    ConfigurationError,
    Forbidden,
    FreightlinerError,
    InvalidInput,
    NotFound,
    RateLimited,
    Timeout,
    Unauthorized,
    Unavailable,
    Where,
)

_THROTTLING = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ExecutionLimitExceeded",
    "ProvisionedThroughputExceededException",  # DynamoDB: a hot partition or table
}
DENIED_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
"""Error codes of a call the caller lacks the IAM permission for."""
_AUTH = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidClientTokenId",
    "InvalidIdentityToken",  # AssumeRoleWithWebIdentity: the token is bad or not trusted
    "IDPRejectedClaim",
}


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (`ThrottlingException`, …)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def aws_error(exc: Exception, where: Where) -> FreightlinerError:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"{where.operation} failed: {code}"
        if code in _THROTTLING:
            return RateLimited(text, where)
        if code in DENIED_CODES:
            return Forbidden(f"{text} (the caller lacks the IAM permission)", where)
        if code in _AUTH:
            return Unauthorized(text, where)
        if code.endswith("NotFoundException"):
            return NotFound(text, where)
        if status >= 500 or code in ("ServerException", "ServiceUnavailable", "InternalFailure"):
            return Unavailable(text, where)
        return InvalidInput(text, where)
    if isinstance(exc, NoCredentialsError):
        return Unauthorized("no AWS credentials found (environment, profile or role)", where)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return Timeout(f"{where.operation} timed out", where)
    if isinstance(exc, (EndpointConnectionError, BotoCoreError)):
        return Unavailable(f"{where.operation} failed: {type(exc).__name__}", where)
    raise exc


def own_resource_error(exc: Exception, where: Where) -> FreightlinerError:
    """A failure of the deployment's own table or queue: throttling and outages stay
    retryable; anything permanent (the resource missing, access denied, a request it refuses)
    means the deployment is wrong, so the work is kept for a redrive instead of being
    recorded as rejected input."""
    error = aws_error(exc, where)
    if error.retryable:
        return error
    return ConfigurationError(
        f"{error} (the deployment's own resource: check its name and the function's role)"
    )
