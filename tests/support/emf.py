"""Metrics as the functions write them: CloudWatch embedded-metric-format (EMF) JSON lines on
stdout, read back one entry per metric per blob."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Emitted:
    namespace: str
    name: str
    unit: str
    value: float
    dimensions: dict[str, str]
    """The blob's dimension values, for every dimension any of its sets names."""
    dimension_sets: list[list[str]]

    def has(self, **dimensions: str) -> bool:
        return all(self.dimensions.get(k) == v for k, v in dimensions.items())


def emitted(out: str) -> list[Emitted]:
    found: list[Emitted] = []
    for line in out.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            sets = directive["Dimensions"]
            names = {name for dimension_set in sets for name in dimension_set}
            values = {name: record[name] for name in names}
            for metric in directive["Metrics"]:
                value = record[metric["Name"]]
                [value] = value if isinstance(value, list) else [value]
                found.append(
                    Emitted(
                        directive["Namespace"],
                        metric["Name"],
                        metric["Unit"],
                        float(value),
                        values,
                        sets,
                    )
                )
    return found


def named(out: str, name: str, **dimensions: str) -> list[Emitted]:
    """The emitted `name` metrics whose dimensions include `dimensions`."""
    return [e for e in emitted(out) if e.name == name and e.has(**dimensions)]
