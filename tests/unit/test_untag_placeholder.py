"""The placeholder untag puts the tag back when the placeholder cannot be deleted."""

from __future__ import annotations

from typing import Any, cast

import pytest

from freightliner.domain import mediatypes as mt
from freightliner.domain.digest import Digest
from freightliner.domain.errors import Unavailable, Where
from freightliner.ports.registry import PushedManifest
from freightliner.registry.client import RegistryClient
from freightliner.registry.untag import EMPTY_DIGEST, delete_tag_by_placeholder

HELD = b'{"held": true}'


class Held:
    data = HELD
    media_type = mt.OCI_MANIFEST


class Transport:
    def request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the probe: a digest nobody holds is not found, so deletes work


class FailingDelete:
    """Records writes; deleting the placeholder fails."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.puts: list[bytes] = []

    def get_manifest(self, repository: str, reference: str) -> Held:
        return Held()

    def head_blob(self, repository: str, digest: Digest) -> int | None:
        assert digest == EMPTY_DIGEST
        return 2

    def put_manifest(
        self, repository: str, reference: str, data: bytes, media_type: str
    ) -> PushedManifest:
        self.puts.append(data)
        return PushedManifest(Digest.of(data), False)

    def delete_manifest(self, repository: str, digest: Digest) -> None:
        raise Unavailable("injected", Where(operation="DELETE manifest"))


def test_the_tag_is_restored_when_the_placeholder_cannot_be_deleted() -> None:
    client = FailingDelete()
    with pytest.raises(Unavailable):
        delete_tag_by_placeholder(
            cast(RegistryClient, client), "team/app", "v1", Where(), "DIGEST_INVALID"
        )
    assert len(client.puts) == 2
    assert b"untag-placeholder" in client.puts[0] and client.puts[1] == HELD
