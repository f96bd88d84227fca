"""Unit tests are pure: no sockets (real-network tests live in tests/integration)."""

import pytest
from pytest_socket import disable_socket


@pytest.fixture(autouse=True)
def _no_network() -> None:
    disable_socket(allow_unix_socket=True)
