"""One TLS context per verification mode, shared by every client in the process: building one
loads the CA bundle (tens of milliseconds, far more on a busy host), and each registry host
needs two clients (registry and token endpoint), so a copy used to build four."""

from __future__ import annotations

import functools
import os
import ssl

import httpx


def tls_context(verify: bool) -> ssl.SSLContext:
    """The process's context for `verify`; a changed SSL_CERT_FILE / SSL_CERT_DIR (which httpx
    reads) gets a new one. An SSLContext is safe to share between threads."""
    return _context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context(verify: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify)
