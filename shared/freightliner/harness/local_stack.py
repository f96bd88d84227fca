"""The whole pipeline on one machine: moto in server mode for SQS and DynamoDB (and the ECR
control plane), a local "ECR" and a local "GAR" registry mapped by a registries config, the
same queue and table definitions the template deploys, and example rules between them.

Used by `make demo`, `freightliner local up` and the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import httpx
from moto.server import ThreadedMotoServer

from freightliner.domain.reference import ecr_registry
from freightliner.harness.aws_resources import PipelineResources, create_resources
from freightliner.harness.images import Pushed, Pusher, RandomBlob
from freightliner.harness.registry import LocalRegistry, free_port

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
ECR_HOST = ecr_registry(ACCOUNT, REGION)
GAR_HOST = "us-docker.pkg.dev"
ECR_CREDS = ("AWS", f"{ACCOUNT}-auth-token")  # what moto's GetAuthorizationToken hands out

DEFAULT_RULES = f"""\
rules:
  - name: ecr-to-gar
    source: {{registry: {ECR_HOST}, repository: "team/**"}}
    destinations: [{{registry: {GAR_HOST}, repository: "my-project/apps/{{repository}}"}}]
    mirror_deletes: true
  - name: gar-to-ecr
    source: {{registry: {GAR_HOST}, repository: "my-project/apps/**"}}
    destinations: [{{registry: {ECR_HOST}, repository: "from-gar/{{name}}"}}]
    mirror_deletes: true
"""


class LocalStack:
    def __init__(
        self, workdir: Path, rules: str = DEFAULT_RULES, visibility_timeout: int = 30
    ) -> None:
        self.workdir = workdir
        self.rules_text = rules
        self.visibility_timeout = visibility_timeout
        self.ecr = LocalRegistry(basic_auth=ECR_CREDS)
        self.gar = LocalRegistry()
        self.moto: ThreadedMotoServer | None = None
        self.moto_url = ""
        self.resources: PipelineResources | None = None
        self._saved_env: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        assert self.resources is not None, "start() first"
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "MOTO_PORT": self.moto_url.rsplit(":", 1)[1],
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "FREIGHTLINER_QUEUE_URL": self.resources.queue_url,
            "FREIGHTLINER_TABLE": self.resources.table,
            "FREIGHTLINER_DLQ_URL": self.resources.dlq_url,
            "FREIGHTLINER_FAILED_EVENTS_URL": self.resources.failed_events_url,
            "FREIGHTLINER_RULES": str(self.workdir / "rules.yaml"),
            "FREIGHTLINER_REGISTRIES": str(self.workdir / "registries.yaml"),
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    @property
    def _session(self) -> dict[str, Any]:
        return dict(
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any key
        )

    def client(self, service: str) -> Any:
        """A boto3 client of `service` on this stack's moto."""
        return boto3.client(service, **self._session)  # type: ignore[call-overload]

    def route_gar(self, endpoint: str) -> None:
        """Send GAR traffic to `endpoint` (a fault-injecting proxy, say) instead."""
        (self.workdir / "registries.yaml").write_text(
            "registries:\n"
            f"  - host: {ECR_HOST}\n    endpoint: {self.ecr.url}\n"
            f"  - host: {GAR_HOST}\n    endpoint: {endpoint}\n    auth: {{kind: anonymous}}\n"
        )

    def start(self) -> LocalStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
        self.ecr.start()
        self.gar.start()
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        httpx.post(f"{self.moto_url}/moto-api/reset").raise_for_status()
        self.resources = create_resources(
            self.client("sqs"),
            self.client("dynamodb"),
            visibility_timeout=self.visibility_timeout,
        )
        (self.workdir / "rules.yaml").write_text(self.rules_text)
        self.route_gar(self.gar.url)
        return self

    def push_ecr(self, repository: str, tag: str, layers: list[bytes | RandomBlob]) -> Pushed:
        """Push an image to the local "ECR" and record it in moto's ECR control plane too
        (creating the repository), as a push to ECR shows in both: DescribeImages then lists
        it with its real digest and a push time."""
        with Pusher(self.ecr.url, auth=ECR_CREDS) as pusher:
            pushed = pusher.image(repository, tag, layers)
        ecr = self.client("ecr")
        with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
            ecr.create_repository(repositoryName=repository)
        with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):  # a re-push
            ecr.put_image(
                repositoryName=repository,
                imageManifest=pushed.data.decode(),
                imageManifestMediaType=pushed.media_type,
                imageTag=tag,
                imageDigest=pushed.digest,
            )
        return pushed

    def apply_env(self) -> None:
        """Point this process (boto3, the pipeline) at the local stack."""
        for key, value in self.env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def stop(self) -> None:
        self.restore_env()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self.gar.stop()
        self.ecr.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
