"""FREIGHTLINER_METADATA_TTL: how long the pipeline (and the CLI) trusts cached metadata."""

from __future__ import annotations

import pytest

from freightliner.bootstrap import cli_root
from freightliner.domain.errors import ConfigurationError
from freightliner.domain.metadata import DEFAULT_TTL_SECONDS
from freightliner.environment import ENV_METADATA_TTL
from freightliner.settings import Settings


def test_the_pipeline_reads_the_ttl_the_cli_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_METADATA_TTL, raising=False)
    assert Settings.from_env().metadata_ttl == DEFAULT_TTL_SECONDS
    monkeypatch.setenv(ENV_METADATA_TTL, "90")
    assert Settings.from_env().metadata_ttl == cli_root.metadata_ttl() == 90.0


@pytest.mark.parametrize("value", ["1h", "-5"])
def test_a_bad_ttl_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV_METADATA_TTL, value)
    with pytest.raises(ConfigurationError, match=ENV_METADATA_TTL):
        Settings.from_env()
    with pytest.raises(ConfigurationError, match=ENV_METADATA_TTL):
        cli_root.metadata_ttl()
