"""Replication rules: which pushed images go where.

A rules document (YAML or JSON) lists rules; each matches a source registry and a repository
glob and names destinations. A bad document fails at load with the line and field at fault.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from freightliner.domain.compression import Compression, compression_switch
from freightliner.domain.documents import load_document
from freightliner.domain.globs import glob_match
from freightliner.domain.platform import Platform
from freightliner.domain.reference import validate_host, validate_repository
from freightliner.domain.scans import ScanPolicy

_TEMPLATE_FIELDS = {"repository", "name"}


class SourceMatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: str
    repository: str = Field(default="**", description="glob: * within a component, ** across")

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        return validate_host(value)


class Destination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: str
    repository: str = Field(
        default="{repository}", description="template: {repository} and {name} are filled in"
    )

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        return validate_host(value)

    @field_validator("repository")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = set(re.findall(r"{([^}]*)}", value))
        unknown = fields - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown template field(s) {sorted(unknown)}; use {{repository}} or {{name}}"
            )
        return value

    def repository_for(self, source_repository: str) -> str:
        name = source_repository.rsplit("/", 1)[-1]
        return validate_repository(
            self.repository.replace("{repository}", source_repository).replace("{name}", name)
        )


class TagFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=list, description="regexes; empty = all tags")
    exclude: list[str] = Field(default_factory=list)

    @field_validator("include", "exclude")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return values

    def allows(self, tag: str | None) -> bool:
        """Digest-only pushes (no tag) pass unless the rule names tags to include."""
        if tag is None:
            return not self.include
        if self.include and not any(re.search(p, tag) for p in self.include):
            return False
        return not any(re.search(p, tag) for p in self.exclude)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    source: SourceMatch
    destinations: list[Destination] = Field(min_length=1)
    tags: TagFilter = Field(default_factory=TagFilter)
    referrers: bool = False
    platforms: list[str] = Field(default_factory=list)
    mirror_deletes: bool = False
    scan_gate: ScanPolicy | None = Field(
        default=None, description="hold pushes until their vulnerability scan passes"
    )
    compress: Compression | None = Field(
        default=None,
        description="zstd, zstd:LEVEL or {level, min_saving}: transcode layers (new digest)",
    )

    @field_validator("scan_gate", mode="before")
    @classmethod
    def _gate(cls, value: Any) -> Any:
        """`true` is the default policy, `false` no gate; a mapping tunes the policy."""
        if value is True:
            return {}
        return None if value is False else value

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, values: list[str]) -> list[str]:
        return [str(Platform.parse(v)) for v in values]

    @field_validator("compress", mode="before")
    @classmethod
    def _compress(cls, value: Any) -> Any:
        return compression_switch(value)

    def matches(self, registry: str, repository: str) -> bool:
        return registry == self.source.registry and glob_match(self.source.repository, repository)


class RulesDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    rules: list[Rule] = Field(default_factory=list)

    def matching(self, registry: str, repository: str, tag: str | None) -> list[Rule]:
        return [
            rule
            for rule in self.rules
            if rule.matches(registry, repository) and rule.tags.allows(tag)
        ]


def parse_rules(text: str, origin: str = "rules") -> RulesDocument:
    """Parse a YAML or JSON rules document; errors name the line and the field."""
    return load_document(text, origin, RulesDocument)
