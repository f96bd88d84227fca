"""YAML/JSON documents validated by pydantic, with errors that name the line and the field.

Whatever the bytes (binary, another encoding, nesting deep enough to exhaust the parser, a
file too large), reading a document ends in a one-line InvalidInput, never a crash.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from freightliner.domain.errors import InvalidInput

if TYPE_CHECKING:
    import yaml

M = TypeVar("M", bound=BaseModel)
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024  # rules, syncs and registries files are kilobytes
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM starts it
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_document(data: bytes, origin: str) -> str:
    """UTF-8 (with or without a BOM), or UTF-16/32 with their BOM, as YAML allows."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"{origin} is larger than {MAX_DOCUMENT_BYTES // 1024 // 1024} MiB")
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8-sig")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{origin} is not {encoding.removesuffix('-sig').upper()} text "
            f"(byte {exc.start}: {exc.reason})"
        ) from None
    if "\x00" in text:
        raise InvalidInput(f"{origin} is not text: it holds NUL characters")
    return text


def read_document(path: Path, origin: str) -> str:
    """A document file's text, read no further than the size limit."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {origin}: {exc.strerror}") from None
    return decode_document(data, origin)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong, and where."""
    import yaml  # noqa: PLC0415 - loaded when a document is read, not by every command

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{exc.problem or exc.context or 'syntax error'}{where}"
    return " ".join(str(exc).split())


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line in the document where the value at `loc` starts."""
    import yaml  # noqa: PLC0415

    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                return line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if key >= len(node.value):
                return line
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def load_document(text: str, origin: str, model: type[M]) -> M:
    import yaml  # noqa: PLC0415

    try:
        raw: Any = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{origin} is not valid YAML/JSON: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise InvalidInput(f"{origin} is nested too deeply") from None
    try:
        return model.model_validate(raw or {})
    except RecursionError:
        raise InvalidInput(f"{origin} is nested too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "(document)"
        line = _line_of(tree, loc)
        where = f"{origin}:{line}" if line else origin
        raise InvalidInput(f"{where}: {field}: {first['msg']}") from None
