"""A layer's bytes, gunzipped and recompressed with zstd as they stream past.

Pure streaming, no registry: the caller feeds the source blob's chunks and says where the
output goes. Memory stays flat whatever the layer size: gzip output is drawn in bounded
pieces (a gzip bomb cannot inflate a chunk past `_PIECE`), zstd holds one window. The
source's digest and size are verified as they are read, the uncompressed stream against
the config's diff_id, and the output's sha256 is computed on the way, so the upload that
follows knows its digest.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator

import zstandard

from freightliner.domain.digest import Digest, DigestVerifier
from freightliner.domain.errors import InvalidInput, Where

_PIECE = 1024 * 1024
"""Most uncompressed bytes drawn from the gzip decoder at a time."""

_GZIP = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip wrapper


class _Gunzip:
    """gzip members (one or several, concatenated) decoded in bounded pieces."""

    def __init__(self, where: Where) -> None:
        self._where = where
        self._decoder = zlib.decompressobj(_GZIP)
        self._between = False  # a member ended; the next byte starts another (or padding)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._between:
                if not data.strip(b"\0"):
                    return  # zero padding after the last member, as tar writers leave
                self._decoder = zlib.decompressobj(_GZIP)
                self._between = False
            try:
                piece = self._decoder.decompress(data, _PIECE)
            except zlib.error as exc:
                raise InvalidInput(f"layer is not valid gzip: {exc}", self._where) from None
            if piece:
                yield piece
            if self._decoder.eof:
                self._between = True
                data = self._decoder.unused_data
            else:
                data = self._decoder.unconsumed_tail

    def finish(self) -> None:
        if not self._between:
            raise InvalidInput("layer's gzip stream ends in the middle", self._where)


class _Output:
    """The compressed bytes: hashed, counted, handed on."""

    def __init__(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._hash = hashlib.sha256()
        self.size = 0

    def __call__(self, data: bytes) -> None:
        if data:
            self._hash.update(data)
            self.size += len(data)
            self._write(data)

    def digest(self) -> Digest:
        return Digest("sha256", self._hash.hexdigest())


def transcoded(
    chunks: Iterable[bytes],
    *,
    source: Digest,
    source_size: int,
    diff_id: Digest,
    gzipped: bool,
    level: int,
    where: Where | None = None,
) -> Iterator[bytes]:
    """The layer recompressed to zstd, as output chunks. Raises DigestMismatch when the
    source or its uncompressed content is not what the manifest and the config say (at the
    end, before the last chunk: nothing that reads the stream commits an unverified blob).
    zstd at a fixed level is deterministic: a second pass yields the same bytes."""
    where = where or Where()
    read = DigestVerifier(source, source_size, where)
    plain = DigestVerifier(diff_id, None, where)
    compressor = zstandard.ZstdCompressor(level=level).compressobj()
    gunzip = _Gunzip(where) if gzipped else None
    for chunk in chunks:
        read.update(chunk)
        pieces = []
        for piece in gunzip.feed(chunk) if gunzip else (chunk,):
            plain.update(piece)
            pieces.append(compressor.compress(piece))
        data = b"".join(pieces)
        if data:
            yield data
    read.verify()
    if gunzip is not None:
        gunzip.finish()
    plain.verify()
    yield compressor.flush()


def measure(
    stream: Iterator[bytes],
    write: Callable[[bytes], object],
    give_up_above: int | None = None,
) -> tuple[Digest, int] | None:
    """Drain a transcoded stream into `write`, returning its sha256 digest and size; None
    (reading stopped) once the output grows past `give_up_above`."""
    out = _Output(write)
    for data in stream:
        out(data)
        if give_up_above is not None and out.size > give_up_above:
            return None
    return out.digest(), out.size
