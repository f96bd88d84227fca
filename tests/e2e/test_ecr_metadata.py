"""ECR's control plane on moto as the metadata source: `ls` through DescribeImages and
BatchGetImage, and ECR to ECR, where both ends list digests, a no-op resync that costs listing
calls only — not one registry request, nor one AWS request per image."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from freightliner.cli.main import main
from freightliner.harness.images import Pusher
from freightliner.harness.local_stack import ECR_CREDS, ECR_HOST, GAR_HOST
from freightliner.harness.usage import Usage
from tests.e2e.conftest import Stack
from tests.support.faulty_proxy import start_proxy

REPOSITORIES = 3
TAGS = ("v1.0.0", "v2.0.0")


def record_in_control_plane(stack: Stack, repository: str, tag: str) -> None:
    """What ECR does for a push: the copy shows in DescribeImages (moto's control plane
    does not see the local registry standing in for ECR's)."""
    got = httpx.get(
        f"{stack.ecr.url}/v2/{repository}/manifests/{tag}",
        auth=ECR_CREDS,
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    got.raise_for_status()
    stack.local.client("ecr").put_image(
        repositoryName=repository,
        imageManifest=got.text,
        imageManifestMediaType=got.headers["Content-Type"],
        imageTag=tag,
        imageDigest=got.headers["Docker-Content-Digest"],
    )


def test_a_noop_ecr_to_ecr_resync_costs_listing_calls_only(
    stack: Stack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(REPOSITORIES):
        for t, tag in enumerate(TAGS):
            stack.push(f"prod/svc{n}", tag, seed=300 + n * 10 + t)
    spec = {
        "name": "ecr-mirror",
        "source": {"registry": ECR_HOST, "prefix": "prod"},
        "destination": {"registry": ECR_HOST, "prefix": "mirror/prod"},
    }
    path = tmp_path / "sync.yaml"
    path.write_text(json.dumps({"syncs": [spec]}))
    state = str(tmp_path / "checkpoints.db")

    def sync() -> dict[str, int]:
        code = main(["sync", str(path), "--state", state, "--json"])
        [report] = json.loads(capsys.readouterr().out)
        assert code == 0, report
        return {k: report[k] for k in ("copied", "skipped", "failed")}

    assert sync() == {"copied": 6, "skipped": 0, "failed": 0}
    for n in range(REPOSITORIES):
        for tag in TAGS:
            record_in_control_plane(stack, f"mirror/prod/svc{n}", tag)
    # ECR's registry behind a proxy that counts what reaches it; no metadata cache either
    proxy, proxy_host, stop = start_proxy(stack.ecr.url)
    registries = Path(stack.local.env["FREIGHTLINER_REGISTRIES"])
    registries.write_text(
        "registries:\n"
        f"  - host: {ECR_HOST}\n    endpoint: http://{proxy_host}\n"
        f"  - host: {GAR_HOST}\n    endpoint: {stack.gar.url}\n    auth: {{kind: anonymous}}\n"
    )
    monkeypatch.setenv("FREIGHTLINER_METADATA_CACHE", "off")  # the listings alone decide
    try:
        with Usage().counting() as usage:
            assert sync() == {"copied": 0, "skipped": 6, "failed": 0}
    finally:
        stop()
    assert proxy.requests == []  # not one registry request
    ecr_calls = {op: n for (service, op), n in usage.requests.items() if service == "ecr"}
    # one repository listing, and one image listing per repository at each end
    assert ecr_calls == {"DescribeRepositories": 1, "DescribeImages": 2 * REPOSITORIES}


def test_ls_reads_ecr_through_describe_images_and_batch_get_image(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    single = stack.push("lib/app", "single", seed=1)
    with Pusher(stack.ecr.url, auth=ECR_CREDS) as pusher:
        index = pusher.multi_platform("lib/app", "multi", layer_sizes=(1024,))
    stack.local.client("ecr").put_image(
        repositoryName="lib/app",
        imageManifest=index.data.decode(),
        imageManifestMediaType=index.media_type,
        imageTag="multi",
        imageDigest=index.digest,
    )
    with Usage().counting() as usage:
        code = main(["ls", f"{ECR_HOST}/lib/app", "--json"])
    listing = json.loads(capsys.readouterr().out)
    assert code == 0
    found = {image["tag"]: image for image in listing["images"]}
    assert found["single"]["digest"] == single.digest
    assert found["single"]["pushed_at"] is not None
    assert found["multi"]["digest"] == index.digest
    assert found["multi"]["platforms"] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    assert found["multi"]["media_type"] == index.media_type
    ecr_calls = {op: n for (service, op), n in usage.requests.items() if service == "ecr"}
    assert ecr_calls == {"DescribeImages": 1, "BatchGetImage": 1}
