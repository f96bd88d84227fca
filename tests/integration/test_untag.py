"""Removing a tag alone on a real registry. Distribution 2.x deletes manifests by digest only:
the client moves the tag to a placeholder and deletes that, so the image and its other tags
stay; where the registry deletes nothing at all, it says so and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freightliner.bootstrap.registry_clients import RegistryClients
from freightliner.domain.errors import Unsupported
from freightliner.harness.images import Pusher
from freightliner.harness.registry import LocalRegistry
from freightliner.registry.untag import placeholder_manifest


@pytest.fixture
def clients() -> Iterator[RegistryClients]:
    clients = RegistryClients()
    yield clients
    clients.close()


def test_a_tag_is_removed_and_the_image_and_its_other_tags_stay(
    registry: LocalRegistry, clients: RegistryClients
) -> None:
    with Pusher(registry.url) as pusher:
        image = pusher.image("team/app", "v1", [b"layer"])
        pusher.manifest("team/app", "stable", image.data, image.media_type)
    client = clients.client(registry.host)

    client.delete_tag("team/app", "v1")

    assert client.head_manifest("team/app", "v1") is None
    kept = client.head_manifest("team/app", "stable")
    assert kept is not None and str(kept.digest) == image.digest
    assert sorted(client.list_tags("team/app")) == ["stable"]


def test_a_registry_that_deletes_nothing_is_unsupported_and_untouched(
    clients: RegistryClients,
) -> None:
    with LocalRegistry(deletes=False) as registry:
        with Pusher(registry.url) as pusher:
            image = pusher.image("team/app", "v1", [b"layer"])
        client = clients.client(registry.host)
        with pytest.raises(Unsupported, match="deletes neither a tag alone"):
            client.delete_tag("team/app", "v1")
        head = client.head_manifest("team/app", "v1")
        assert head is not None and str(head.digest) == image.digest


def test_each_placeholder_is_unique() -> None:
    assert placeholder_manifest() != placeholder_manifest()
