"""Removing a tag alone on a real registry: distribution 2.x deletes by digest only, which the
client reports as unsupported (exit 7) instead of a digest mismatch."""

from __future__ import annotations

import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.errors import Unsupported
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry


def test_a_registry_without_tag_deletion_is_reported_as_unsupported(
    registry: LocalRegistry,
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
    clients = RegistryClients()
    try:
        client = clients.client(registry.host)
        with pytest.raises(Unsupported, match="does not delete a tag alone"):
            client.delete_tag("team/app", "v1")
        head = client.head_manifest("team/app", "v1")
        assert head is not None and str(head.digest) == image.digest
    finally:
        clients.close()
