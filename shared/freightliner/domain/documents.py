"""YAML/JSON documents validated by pydantic, with errors that name the line and the field."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from freightliner.domain.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line in the document where the value at `loc` starts."""
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
    try:
        raw: Any = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{origin} is not valid YAML/JSON: {exc}") from None
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        field = ".".join(str(p) for p in loc) or "(document)"
        line = _line_of(tree, loc)
        where = f"{origin}:{line}" if line else origin
        raise InvalidInput(f"{where}: {field}: {first['msg']}") from None
