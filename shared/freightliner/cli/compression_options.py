"""`--compress zstd[:LEVEL]` and `--compress-min-saving`: shared by `copy` and `sync`, and
the summary line that shows what compression did."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from freightliner.cli.progress import human_bytes
from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    from freightliner.domain.compression import Compression
    from freightliner.engine.copying.models import CopyReport


def add_compress_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--compress",
        metavar="zstd[:LEVEL]",
        help="transcode gzip and plain layers to zstd (level 1-19, default 9); the manifest "
        "digest changes and referrers of the old one are not copied",
    )
    parser.add_argument(
        "--compress-min-saving",
        type=float,
        metavar="SHARE",
        help="keep a layer zstd shrinks by less than this share (default 0.10)",
    )
    return parser


def compression_option(args: argparse.Namespace) -> Compression | None:
    """The options as a model, or None when `--compress` is absent; bad values are
    InvalidInput (exit 2) with the reason."""
    from pydantic import ValidationError  # noqa: PLC0415 - not for --help

    from freightliner.domain.compression import Compression  # noqa: PLC0415

    text: str | None = getattr(args, "compress", None)
    share: float | None = getattr(args, "compress_min_saving", None)
    if text is None:
        if share is not None:
            raise InvalidInput("--compress-min-saving needs --compress")
        return None
    try:
        spec = Compression.model_validate(text)
        return spec if share is None else spec.model_copy(update={"min_saving": share})
    except ValidationError as exc:
        raise InvalidInput(f"--compress {text}: {exc.errors()[0]['msg']}") from None


def compression_line(report: CopyReport) -> str:
    """`12.0 MB -> 8.1 MB (0.68x) in 1.20s, 3 layers zstd, 1 kept`, with the fallback."""
    line = (
        f"{human_bytes(report.compress_bytes_before)} -> "
        f"{human_bytes(report.compress_bytes_after)} ({report.compress_ratio:.2f}x) in "
        f"{report.compress_seconds:.2f}s, {report.layers_compressed} layers zstd, "
        f"{report.layers_kept} kept"
    )
    if report.compress_fallback:
        line += "; the destination refused zstd: original layers copied"
    return line
