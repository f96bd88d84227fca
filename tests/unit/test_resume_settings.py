"""The resumable-upload threshold and the handoff margin, read from the environment."""

from __future__ import annotations

import pytest

from freightliner.domain.errors import ConfigurationError
from freightliner.environment import (
    DEFAULT_HANDOFF_MARGIN,
    DEFAULT_RESUMABLE_UPLOAD_BYTES,
    ENV_HANDOFF_MARGIN,
    ENV_RESUMABLE_UPLOAD_BYTES,
)
from freightliner.settings import Settings


def test_defaults_apply_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_RESUMABLE_UPLOAD_BYTES, raising=False)
    monkeypatch.delenv(ENV_HANDOFF_MARGIN, raising=False)
    settings = Settings.from_env()
    assert settings.resumable_upload_bytes == DEFAULT_RESUMABLE_UPLOAD_BYTES
    assert settings.handoff_margin == DEFAULT_HANDOFF_MARGIN


def test_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_RESUMABLE_UPLOAD_BYTES, "1048576")
    monkeypatch.setenv(ENV_HANDOFF_MARGIN, "15")
    settings = Settings.from_env()
    assert (settings.resumable_upload_bytes, settings.handoff_margin) == (1048576, 15)


@pytest.mark.parametrize("variable", [ENV_RESUMABLE_UPLOAD_BYTES, ENV_HANDOFF_MARGIN])
def test_a_bad_value_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "64MB")
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env()
