"""The whole pipeline on loopback: moto server, local "ECR" and "GAR" registries (GAR behind
a fault-injecting proxy that counts requests), the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from freightliner.harness.aws_resources import PipelineResources
from freightliner.harness.functions import forget_roots, load_handler
from freightliner.harness.images import Pushed, RandomBlob
from freightliner.harness.lambda_runtime import LocalContext, drain
from freightliner.harness.local_stack import LocalStack
from freightliner.harness.registry import LocalRegistry
from tests.support.faulty_proxy import FaultyProxy, start_proxy

EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class Stack:
    local: LocalStack
    ecr: LocalRegistry
    gar: LocalRegistry
    gar_proxy: FaultyProxy
    resources: PipelineResources
    sqs: Any
    on_ecr_push: ModuleType
    replicate: ModuleType

    def push(self, repository: str, tag: str, seed: int) -> Pushed:
        return self.local.push_ecr(repository, tag, [RandomBlob(seed, 50_000), b"tail"])

    def ecr_event(
        self, image: Pushed, repository: str, tag: str | None, **detail: str
    ) -> dict[str, Any]:
        name = "ecr-push.json" if tag else "ecr-push-digest-only.json"
        event = json.loads((EVENTS / name).read_text())
        event["detail"].update({"repository-name": repository, "image-digest": image.digest})
        if tag:
            event["detail"]["image-tag"] = tag
        event["detail"].update(detail)
        return event

    def fire(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.on_ecr_push.handler(event, LocalContext())
        return result

    def work(self) -> int:
        return drain(self.sqs, self.resources.queue_url, self.replicate.handler)

    def blob_uploads(self) -> int:
        return sum(
            1 for m, p, _ in self.gar_proxy.requests if m == "PUT" and "/blobs/uploads/" in p
        )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with LocalStack(tmp_path / "stack", visibility_timeout=1) as local:
        proxy, proxy_host, stop = start_proxy(local.gar.url)
        local.route_gar(f"http://{proxy_host}")
        local.apply_env()
        forget_roots()
        assert local.resources is not None
        try:
            yield Stack(
                local,
                local.ecr,
                local.gar,
                proxy,
                local.resources,
                boto3.client("sqs", region_name="us-east-1"),
                load_handler("on_ecr_push"),
                load_handler("replicate"),
            )
        finally:
            forget_roots()
            stop()
