"""References: parsing, normalisation, validation, and parse∘format = identity."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import Reference, ecr_host, gar_host

COMPONENT = st.from_regex(r"[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
HOSTS = st.sampled_from(
    [
        "localhost:5000",
        "127.0.0.1:8080",
        "ghcr.io",
        "quay.io",
        "docker.io",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "europe-west1-docker.pkg.dev",
    ]
)
TAGS = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", fullmatch=True)
DIGESTS = st.one_of(
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map(lambda h: Digest("sha256", h)),
    st.from_regex(r"[0-9a-f]{128}", fullmatch=True).map(lambda h: Digest("sha512", h)),
)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    host = draw(HOSTS)
    minimum = 3 if host.endswith("pkg.dev") else (2 if host == "docker.io" else 1)
    parts = draw(st.lists(COMPONENT, min_size=minimum, max_size=5))
    repository = "/".join(parts)
    if len(repository) < 2:
        repository += "x"
    tag = draw(st.none() | TAGS)
    digest = draw(st.none() | DIGESTS)
    return Reference(host, repository, tag, digest)


@given(references())
def test_parse_of_format_is_identity(ref: Reference) -> None:
    assert Reference.parse(str(ref)) == ref


@given(references())
def test_format_of_parse_is_canonical(ref: Reference) -> None:
    text = str(ref)
    assert str(Reference.parse(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ubuntu", "docker.io/library/ubuntu"),
        ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ("bitnami/redis", "docker.io/bitnami/redis"),
        ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3"),
        ("docker.io/alpine", "docker.io/library/alpine"),
        ("localhost/app", "localhost/app"),
        ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
    ],
)
def test_docker_hub_normalisation(text: str, expected: str) -> None:
    assert str(Reference.parse(text)) == expected


def test_identifier_prefers_digest_then_tag_then_latest() -> None:
    digest = "sha256:" + "a" * 64
    assert Reference.parse(f"ghcr.io/o/app:v1@{digest}").identifier == digest
    assert Reference.parse("ghcr.io/o/app:v1").identifier == "v1"
    assert Reference.parse("ghcr.io/o/app").identifier == "latest"


def test_ecr_and_gar_hosts() -> None:
    ecr = ecr_host("123456789012.dkr.ecr.eu-west-2.amazonaws.com")
    assert ecr is not None and (ecr.account, ecr.region) == ("123456789012", "eu-west-2")
    assert ecr_host("12345.dkr.ecr.eu-west-2.amazonaws.com") is None
    gar = gar_host("us-central1-docker.pkg.dev")
    assert gar is not None and gar.location == "us-central1"
    assert gar_host("gcr.io") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ghcr.io/o/App",
        "ghcr.io/o/app:",
        "ghcr.io/o/app:-bad",
        "ghcr.io/o/app:" + "t" * 129,
        "ghcr.io/o//app",
        "ghcr.io/o/app/",
        "ghcr.io/o/../app",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/a",  # ECR: 2 characters at least
        "ghcr.io/" + "a" * 257,
        "ghcr.io/o/app@sha256:abc",
        "ghcr.io/o/app@sha256:" + "A" * 64,
        "ghcr.io/o/app@md5:" + "a" * 32,
        "us-docker.pkg.dev/project/image",
        " ghcr.io/o/app",
    ],
)
def test_invalid_references_are_refused_with_the_input_named(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Reference.parse(text)
    assert "invalid" in str(info.value) or "unsupported" in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["127.0.0.1:5000/x", "localhost:5000/a", "ghcr.io/o/x:1", "quay.io/x@sha256:" + "0" * 64],
)
def test_one_character_repositories_follow_the_oci_grammar_off_ecr(text: str) -> None:
    assert str(Reference.parse(text)) == text


def test_ecr_keeps_its_two_character_minimum() -> None:
    with pytest.raises(InvalidInput, match="2 to 256 characters on ECR"):
        Reference.parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1")
    assert Reference.parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/xy:1").repository == "xy"
