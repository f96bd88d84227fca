"""What a run of the pipeline costs, counted while it runs: AWS API requests by service and
operation (every botocore client in this process), function invocations with their duration
and the memory template.yaml gives them (GB-seconds), and bytes copied between clouds.

`make demo` prints these per image and per 1,000 images; docs/deploy.md turns them into
money with list prices it names.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.client import BaseClient

from freightliner.harness.template import load_template, memory_mb

READS = ("Get", "Query", "Scan", "BatchGet", "Describe")
API_CALL = "_make_api_call"  # where every botocore client sends each request
# What the local SQS poller asks besides receiving and deleting (Lambda's event source
# mapping does not pay for it): left out of the SQS figure.
HARNESS_ONLY = {("sqs", "GetQueueAttributes")}


@dataclass
class Usage:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    memory: dict[str, int] = field(default_factory=lambda: memory_mb(load_template()))

    @contextmanager
    def counting(self) -> Iterator[Usage]:
        """Count every AWS API call made in this process while the block runs."""
        original = getattr(BaseClient, API_CALL)
        usage = self

        def counted(client: BaseClient, operation: str, params: Any) -> Any:
            usage.requests[(client.meta.service_model.service_name, operation)] += 1
            return original(client, operation, params)

        setattr(BaseClient, API_CALL, counted)
        try:
            yield self
        finally:
            setattr(BaseClient, API_CALL, original)

    def timed(self, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler`, counting its invocations and their duration under `name`."""

        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return handler(*args, **kwargs)
            finally:
                self.invocations[name] += 1
                self.seconds[name] += time.perf_counter() - started

        return run

    def service(self, name: str, *, writes: bool | None = None) -> int:
        """Requests to one AWS service (`writes`: only those that write, or only reads)."""
        return sum(
            count
            for (service, operation), count in self.requests.items()
            if service == name
            and (service, operation) not in HARNESS_ONLY
            and (writes is None or writes != operation.startswith(READS))
        )

    def gb_seconds(self) -> float:
        """Lambda GB-seconds (billed in 1 ms steps) of the AWS functions counted."""
        return sum(
            self.seconds[name] * self.memory[name] / 1024
            for name in self.invocations
            if name in self.memory
        )

    def report(self, images: int, bytes_between_clouds: int) -> list[str]:
        """Lines of figures per image and per 1,000 images."""
        per = 1000 / images
        rows = [
            ("Lambda invocations", sum(self.invocations[n] for n in self.memory)),
            ("Lambda GB-seconds", self.gb_seconds()),
            ("SQS requests", self.service("sqs")),
            ("DynamoDB writes (requests)", self.service("dynamodb", writes=True)),
            ("DynamoDB reads (requests)", self.service("dynamodb", writes=False)),
            ("Step Functions StartExecution", self.requests[("stepfunctions", "StartExecution")]),
            ("ECR control-plane requests", self.service("ecr")),
            ("Cloud Function invocations", self.invocations["on_gar_push"]),
            ("bytes copied between clouds", bytes_between_clouds),
        ]
        lines = [f"{'':<32} {'this run':>14} {'per 1,000 images':>18}"]
        for label, value in rows:
            total = value * per
            lines.append(f"{label:<32} {value:>14,.2f} {total:>18,.2f}")
        calls = ", ".join(f"{s}:{o} {n}" for (s, o), n in sorted(self.requests.items()))
        lines.append(f"({images} images; AWS requests by operation: {calls})")
        return lines
