"""Clients share one TLS context per verification mode instead of loading the CA bundle each."""

from __future__ import annotations

import ssl

import pytest

from freightliner.registry.tls import tls_context


def test_one_context_per_mode_and_ca_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    verified = tls_context(True)
    assert tls_context(True) is verified
    assert verified.verify_mode == ssl.CERT_REQUIRED
    assert tls_context(False).verify_mode == ssl.CERT_NONE
    monkeypatch.setenv("SSL_CERT_DIR", "/etc/ssl/certs")
    assert tls_context(True) is not verified
