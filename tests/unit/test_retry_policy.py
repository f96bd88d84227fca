"""The one retry policy (domain.retry): full-jitter backoff, Retry-After in both its forms,
classification by the error taxonomy, the SQS redelivery delay, and the Google REST adapter
and the registry client using it (httpx.MockTransport: no sockets)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from freightliner.adapters.gcp.gar_auth import TOKEN_USER
from freightliner.adapters.gcp.google_rest import GoogleRest
from freightliner.adapters.local.static_creds import StaticCredentialProvider
from freightliner.bootstrap.aws_session import aws_clients
from freightliner.domain.errors import (
    ConfigurationError,
    NotFound,
    RateLimited,
    Timeout,
    Unavailable,
    Where,
)
from freightliner.domain.retry import (
    MIN_REDELIVERY,
    REDELIVERY,
    RetryPolicy,
    redelivery_delay,
    retry_after_seconds,
)
from freightliner.domain.secrets import Redacted
from freightliner.environment import ENV_AWS_RETRY_MODE
from freightliner.ports.credentials import Credential
from freightliner.registry.transport import classify
from freightliner.settings import Settings


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling() -> None:
    seen: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        seen.append((low, high))
        return high

    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=jitter)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 9)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert all(low == 0.0 for low, _ in seen)  # full jitter: anywhere from zero
    rng = random.Random(7)
    drawn = [RetryPolicy(jitter=rng.uniform).backoff(3) for _ in range(500)]
    assert 0.0 <= min(drawn) < 0.2 and 1.8 < max(drawn) <= 2.0


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(max_retry_after=60.0, jitter=lambda low, high: high)
    assert policy.delay(1, RateLimited("slow", retry_after=7.0)) == 7.0
    assert policy.delay(1, RateLimited("slow", retry_after=3600.0)) == 60.0
    assert policy.delay(2, RateLimited("slow")) == 1.0  # no header: the backoff
    assert policy.delay(2, Unavailable("503")) == 1.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert retry_after_seconds("120", lambda: now) == 120.0
    assert retry_after_seconds(" 1.5 ", lambda: now) == 1.5
    assert retry_after_seconds("-3", lambda: now) == 0.0
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert later == "Thu, 01 Jan 2026 12:00:30 GMT"
    assert retry_after_seconds(later, lambda: now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", lambda: now) == 0.0
    for unreadable in (None, "", "soon", "nan", "inf", "Thu, 01 Jan 2026 12:00:30"):
        assert retry_after_seconds(unreadable, lambda: now) is None


def test_call_retries_retryable_errors_only_and_gives_up() -> None:
    pauses: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=pauses.append, jitter=lambda low, high: high)
    failures = iter([RateLimited("slow", retry_after=7.0), Timeout("slow read")])

    def flaky() -> str:
        error = next(failures, None)
        if error:
            raise error
        return "ok"

    assert policy.call(flaky) == "ok" and pauses == [7.0, 1.0]

    calls: list[int] = []

    def missing() -> None:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        policy.call(missing)
    assert calls == [1]  # permanent: never retried

    def down() -> None:
        calls.append(2)
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        policy.call(down)
    assert calls.count(2) == 3

    def hour_long() -> None:
        calls.append(3)
        raise RateLimited("pull quota", retry_after=3600.0)

    with pytest.raises(RateLimited):
        policy.call(hour_long)
    assert calls.count(3) == 1  # not slept on here: the caller's redelivery carries the wait


def test_redelivery_delay_is_jittered_capped_and_honours_retry_after() -> None:
    for count in (1, 2, 5, 20):
        ceiling = min(900.0, 30.0 * 2 ** (count - 1))
        delays = {redelivery_delay(count) for _ in range(200)}
        assert min(delays) >= MIN_REDELIVERY and max(delays) <= ceiling
        assert len(delays) > 10  # jittered: a failed batch does not come back together
    assert redelivery_delay(1, RateLimited("quota", retry_after=240.0)) == 240
    assert redelivery_delay(1, RateLimited("quota", retry_after=86400.0)) == 900
    assert REDELIVERY.max_delay == 900.0


def test_classify_reads_retry_after_of_a_429() -> None:
    response = httpx.Response(
        429, headers={"Retry-After": "12"}, request=httpx.Request("GET", "http://r/v2/")
    )
    error = classify(response, Where("r"))
    assert isinstance(error, RateLimited) and error.retry_after == 12.0


def test_google_rest_retries_under_the_policy_and_honours_retry_after() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"message": "q"}}),
            httpx.Response(503, json={"error": {"message": "down"}}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    pauses: list[float] = []
    token = {"api.test": Credential(username=TOKEN_USER, password=Redacted("ya29.t"))}
    rest = GoogleRest(
        httpx.Client(transport=httpx.MockTransport(lambda request: next(answers))),
        StaticCredentialProvider(token),
        forbidden_hint="role",
        retry=RetryPolicy(attempts=3, sleep=pauses.append, jitter=lambda low, high: high),
    )
    assert rest.get("https://api.test/v1/x", {}, "api.test", Where("api.test")) == {"ok": True}
    assert pauses == [3.0, 1.0]


def test_aws_clients_retry_in_botocore_standard_or_adaptive_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_AWS_RETRY_MODE, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")  # building a client resolves credentials
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    standard = aws_clients(Settings.from_env())
    assert standard.client("sqs", "us-east-1").meta.config.retries["mode"] == "standard"
    table = standard.resource("dynamodb", "us-east-1")
    assert table.meta.client.meta.config.retries["mode"] == "standard"
    monkeypatch.setenv(ENV_AWS_RETRY_MODE, "adaptive")
    adaptive = aws_clients(Settings.from_env())
    assert adaptive.client("sqs", "us-east-1").meta.config.retries["mode"] == "adaptive"
    monkeypatch.setenv(ENV_AWS_RETRY_MODE, "legacy")
    with pytest.raises(ConfigurationError, match="aws_retry_mode"):
        Settings.from_env()
