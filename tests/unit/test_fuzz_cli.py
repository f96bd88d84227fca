"""The real CLI entry point fed generated arguments, documents and checkpoint files: bad
input ends in exit 2 with one line naming what is wrong, never exit 70 or a traceback
(issue 11, point 10). Inputs that would reach a registry are left out (sockets are off)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from freightliner.cli.main import main
from freightliner.domain.documents import decode_document
from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import Reference
from freightliner.domain.registries import Registries
from freightliner.domain.sync import parse_sync_file

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
VALID_SYNC = {
    "syncs": [
        {
            "name": "tree",
            "source": {"registry": "127.0.0.1:1", "prefix": "src"},
            "destination": {"registry": "127.0.0.1:2", "prefix": "dst"},
        }
    ]
}


def run(argv: Sequence[str]) -> tuple[int, str]:
    """`freightliner ARGV` in this process: its exit code and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, err.getvalue()


def assert_refused(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "unexpected error" not in err
    lines = err.strip().splitlines()
    ours = [line for line in lines if line.startswith("freightliner:")]
    assert ours == [lines[-1]] or "error:" in lines[-1], err  # ours, or argparse's usage


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # the default checkpoint file lands here
    for name in ("REGISTRIES", "QUEUE_URL", "TABLE", "SRC_CREDS", "DEST_CREDS"):
        monkeypatch.delenv(f"FREIGHTLINER_{name}", raising=False)
    # Credentials from the environment: boto3 never probes the instance metadata endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield


def _parses(text: str) -> bool:
    try:
        Reference.parse(text)
    except InvalidInput:
        return False
    return True


HOSTS = st.one_of(
    st.text(max_size=20),
    st.builds("127.0.0.1:{}".format, st.integers(0, 200_000)),
    st.builds("{}.{}.{}.{}".format, *[st.integers(0, 999)] * 4),
    st.builds("[{}]".format, st.text("0123456789abcdef:.", max_size=45)),
    st.sampled_from(["xn--ls8h.com", "\U0001f4a9.io", "ghcr.io:0", "a..b", "-a.io", "LOCAL.io"]),
)
REFERENCES = st.one_of(
    st.text(max_size=40),
    st.builds(
        "{}/{}{}".format,
        HOSTS,
        st.sampled_from(["team/app", "Team/App", "a", "a//b", "x/" * 130]),
        st.sampled_from(["", ":v1", ":", "@sha256:00", ":-x", "@sha256:" + "a" * 64]),
    ),
)


@FUZZ
@given(source=REFERENCES, destination=REFERENCES, jobs=st.integers(-3, 100))
def test_copy_refuses_bad_references_and_options(source: str, destination: str, jobs: int) -> None:
    assume(not (_parses(source) and _parses(destination) and 1 <= jobs <= 64))
    assert_refused(*run(["copy", source, destination, "--jobs", str(jobs), "--dry-run"]))


@FUZZ
@given(reference=REFERENCES, command=st.sampled_from(["inspect", "tags"]))
def test_inspect_and_tags_refuse_bad_references(reference: str, command: str) -> None:
    assume(not _parses(reference) or (command == "tags" and "@" in reference))
    assume(not reference.startswith("-"))
    assert_refused(*run([command, reference]))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)


def _sync_variant(value: Any, key: str) -> dict[str, Any]:
    sync = dict(VALID_SYNC["syncs"][0])
    sync[key] = value
    return {"syncs": [sync]}


DOCUMENTS = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.text(max_size=100).map(lambda t: t.encode("utf-16-le")),
    JSONISH.map(lambda v: yaml.safe_dump(v).encode()),
    st.builds(
        _sync_variant,
        JSONISH,
        st.sampled_from(
            [*sorted(VALID_SYNC["syncs"][0]), "tags", "semver", "schedule", "platforms", "latest"]
        ),
    ).map(lambda d: json.dumps(d).encode()),
    st.integers(10, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(10, 3000).map(lambda n: b"a: " * n + b"1"),
    st.just(b"a: &x [1]\nb: *y\n"),
)


@FUZZ
@given(document=DOCUMENTS)
def test_sync_refuses_bad_sync_files(document: bytes, tmp_path: Path) -> None:
    try:
        parse_sync_file(decode_document(document, "sync file"))
    except InvalidInput:
        pass
    else:
        assume(False)  # a valid sync: it would go on to its registries
    path = tmp_path / "sync.yaml"
    path.write_bytes(document)
    assert_refused(*run(["sync", str(path), "--dry-run"]))


@FUZZ
@given(document=DOCUMENTS)
def test_sync_refuses_bad_registries_files(document: bytes, tmp_path: Path) -> None:
    registries = tmp_path / "registries.yaml"
    registries.write_bytes(document)
    try:
        Registries.load(registries)
    except InvalidInput:
        pass
    else:
        assume(False)  # a valid config: the sync would go on to its registries
    sync = tmp_path / "sync.yaml"
    sync.write_text(json.dumps(VALID_SYNC))
    assert_refused(*run(["sync", str(sync), "--registries", str(registries), "--dry-run"]))


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.binary(min_size=200, max_size=2000).map(lambda b: b"SQLite format 3\x00" + b),
    ),
    command=st.sampled_from(
        [["jobs", "list"], ["jobs", "status", "sync-1"], ["jobs", "resume", "sync-1"]]
    ),
)
def test_jobs_refuse_corrupt_checkpoint_files(
    content: bytes, command: list[str], tmp_path: Path
) -> None:
    state = tmp_path / "checkpoints.db"
    state.write_bytes(content)
    code, err = run([*command, "--state", str(state)])
    if code == 0:  # SQLite takes a file shorter than its header for a new database
        assert command == ["jobs", "list"] and len(content) < 100 and not err
        return
    assert_refused(code, err)


TOKENS = st.one_of(
    st.sampled_from(
        [
            "sync",
            "jobs",
            "tree",
            "list",
            "status",
            "resume",
            "start",
            "schedule",
            "--only",
            "--state",
            "--store",
            "local",
            "aws",
            "--json",
            "--retry-failed",
            "--resume",
            "-v",
            "--dry-run",
            "--registries",
            "sync-1",
            "tree-1",
            "\x00",
            "",
            "-",
        ]
    ),
    st.text(max_size=12),
)


@FUZZ
@given(argv=st.lists(TOKENS, min_size=1, max_size=6))
def test_argument_soup_never_crashes(argv: list[str]) -> None:
    assume(argv[0] in ("sync", "jobs", "tree") or not argv[0].isidentifier())
    code, err = run(argv)
    assert code in (0, 2), err
    assert "Traceback" not in err and "unexpected error" not in err


@FUZZ
@given(document=DOCUMENTS)
def test_secrets_put_refuses_documents_that_are_not_json(document: bytes, tmp_path: Path) -> None:
    try:
        json.loads(decode_document(document, "value"))
    except (InvalidInput, ValueError, RecursionError):
        pass
    else:
        assume(False)  # valid JSON would be sent to Secrets Manager
    path = tmp_path / "value.json"
    path.write_bytes(document)
    assert_refused(*run(["secrets", "put", "team/registry", "--json-file", str(path)]))
