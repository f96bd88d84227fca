"""A registry client keeps its connections: replies without a body (HEADs, upload and mount
replies) go back to the pool instead of closing their connection, so a tree sync's thousands
of requests do not each pay a TCP (and, in production, TLS) handshake."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.harness.registry import LocalRegistry
from tests.support.oci_images import layer, push_blob, push_image


def test_heads_uploads_and_manifests_share_one_connection(
    registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = RegistryClients()
    try:
        client = clients.client(registry.host)
        push_image(client, "team/app", "v1", [layer(1)])  # the pool holds a connection now
        opened: list[Any] = []
        connect = socket.create_connection

        def counted(*args: Any, **kwargs: Any) -> socket.socket:
            opened.append(args[0])
            return connect(*args, **kwargs)

        monkeypatch.setattr(socket, "create_connection", counted)
        for n in range(5):
            assert client.head_manifest("team/app", "v1") is not None  # HEAD: no body
            push_blob(client, "team/app", layer(100 + n))  # HEAD 404, POST 202, PUT 201
        push_image(client, "team/app", "v2", [layer(200)])
        assert opened == []
    finally:
        clients.close()
