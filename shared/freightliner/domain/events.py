"""Trigger payloads as pydantic models: EventBridge "ECR Image Action" and GAR Pub/Sub
notifications, both reduced to one `ImageEvent` the planner understands; and the EventBridge
scan events ("ECR Image Scan", "Inspector2 Scan") that wake a waiting scan gate."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from freightliner.domain.digest import Digest
from freightliner.domain.errors import InvalidInput
from freightliner.domain.reference import (
    Reference,
    ecr_registry,
    validate_repository,
    validate_tag,
)


def epoch(moment: datetime | None) -> float | None:
    """Epoch seconds of an event's time (UTC when it names no zone)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ImageEvent(BaseModel):
    """An image pushed to or deleted from a registry; what the planner turns into work."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    action: Literal["push", "delete", "untag"]
    registry: str
    repository: str
    digest: str = Field(default="", description="empty for an untag: only the tag is gone")
    tag: str | None = None
    pushed_at: float | None = Field(
        default=None, description="when the registry announced it (epoch seconds), if known"
    )

    @property
    def source(self) -> Reference:
        if self.action == "untag":
            return Reference(self.registry, self.repository, self.tag)
        return Reference(self.registry, self.repository, None, Digest.parse(self.digest))


class EcrDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    result: str
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")
    action_type: str = Field(alias="action-type")
    image_tag: str | None = Field(default=None, alias="image-tag")


class EcrImageAction(BaseModel):
    """EventBridge `ECR Image Action` (source aws.ecr)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["ECR Image Action"] = Field(alias="detail-type")
    source: Literal["aws.ecr"]
    account: str
    region: str
    time: datetime | None = None
    detail: EcrDetail

    def image_event(self) -> ImageEvent | None:
        """None for results other than SUCCESS and actions other than PUSH/DELETE."""
        if self.detail.result != "SUCCESS" or self.detail.action_type not in ("PUSH", "DELETE"):
            return None
        Digest.parse(self.detail.image_digest)
        validate_repository(self.detail.repository_name, ecr=True)
        if self.detail.image_tag:
            validate_tag(self.detail.image_tag)
        return ImageEvent(
            event_id=self.id,
            action="push" if self.detail.action_type == "PUSH" else "delete",
            registry=ecr_registry(self.account, self.region),
            repository=self.detail.repository_name,
            digest=self.detail.image_digest,
            tag=self.detail.image_tag or None,
            pushed_at=epoch(self.time),
        )


class ScanDetail(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    scan_status: str = Field(alias="scan-status")
    repository_name: str = Field(alias="repository-name")
    image_digest: str = Field(alias="image-digest")


class ScanFinished(BaseModel):
    """EventBridge "ECR Image Scan" (basic scanning) or "Inspector2 Scan" (enhanced)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    detail_type: Literal["ECR Image Scan", "Inspector2 Scan"] = Field(alias="detail-type")
    source: Literal["aws.ecr", "aws.inspector2"]
    account: str
    region: str
    detail: ScanDetail

    def image(self) -> str:
        """The scanned image, `<registry>/<repository>@<digest>` as work items name sources.
        Inspector2 puts the repository's ARN in `repository-name`."""
        account, region, name = self.account, self.region, self.detail.repository_name
        if name.startswith("arn:"):
            parts = name.split(":", 5)
            if len(parts) != 6 or not parts[5].startswith("repository/"):
                raise InvalidInput(f"scan event: {name!r} is not an ECR repository ARN")
            region, account, name = parts[3], parts[4], parts[5].removeprefix("repository/")
        digest = Digest.parse(self.detail.image_digest)
        validate_repository(name, ecr=True)
        return f"{ecr_registry(account, region)}/{name}@{digest}"


class GarNotification(BaseModel):
    """The JSON in a `gcr` topic message: full references in `digest` and `tag`, which must
    name the same image (host, so location; project, repository and image path): a tag taken
    from another repository is malformed, never applied here."""

    model_config = ConfigDict(extra="allow")

    action: str
    digest: str | None = None
    tag: str | None = None

    def image_event(self, message_id: str, pushed_at: float | None = None) -> ImageEvent | None:
        """A push, a delete, or (a DELETE naming only a tag) an untag."""
        if self.action not in ("INSERT", "DELETE"):
            return None
        if self.digest is None and self.action == "DELETE" and self.tag:
            tagged = Reference.parse(self.tag)
            if tagged.tag is None:
                raise InvalidInput(f"GAR notification tag {self.tag!r} names no tag")
            return ImageEvent(
                event_id=message_id,
                action="untag",
                registry=tagged.registry,
                repository=tagged.repository,
                tag=tagged.tag,
                pushed_at=pushed_at,
            )
        if self.digest is None:
            raise InvalidInput(f"GAR {self.action} notification without a digest")
        pinned = Reference.parse(self.digest)
        if pinned.digest is None:
            raise InvalidInput(f"GAR notification digest {self.digest!r} has no @sha256:…")
        tag = None
        if self.tag:
            tagged = Reference.parse(self.tag)
            if tagged.name != pinned.name or tagged.tag is None:
                raise InvalidInput(
                    f"GAR notification tag {self.tag!r} does not name a tag of the image "
                    f"{pinned.name} its digest names"
                )
            tag = tagged.tag
        return ImageEvent(
            event_id=message_id,
            action="push" if self.action == "INSERT" else "delete",
            registry=pinned.registry,
            repository=pinned.repository,
            digest=str(pinned.digest),
            tag=tag,
            pushed_at=pushed_at,
        )


class PubSubMessage(BaseModel):
    """A Pub/Sub message as CloudEvents and push envelopes carry it (both id spellings)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    data: str = ""
    message_id: str = Field(default="", alias="messageId")
    publish_time: datetime | None = Field(default=None, alias="publishTime")

    @model_validator(mode="before")
    @classmethod
    def _either_spelling(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "messageId" not in raw and "message_id" in raw:
            raw = {**raw, "messageId": raw["message_id"]}
        return raw

    def image_event(self) -> ImageEvent | None:
        """The notification's image event, pushed when Pub/Sub received the message."""
        return self.notification().image_event(self.message_id, epoch(self.publish_time))

    def notification(self) -> GarNotification:
        if not self.message_id:
            raise InvalidInput("Pub/Sub message has no messageId")
        try:
            decoded = base64.b64decode(self.data, validate=True)
            return GarNotification.model_validate(json.loads(decoded))
        except (binascii.Error, ValueError, ValidationError) as exc:
            raise InvalidInput(
                f"Pub/Sub message {self.message_id} is not a GAR notification: {type(exc).__name__}"
            ) from None


class PubSubPush(BaseModel):
    """The data of a Pub/Sub CloudEvent (a push envelope): `{"message": {...}}`."""

    model_config = ConfigDict(extra="allow")

    message: PubSubMessage


class StartTreeRequest(BaseModel):
    """`{"sync": NAME}`, as the console sends it or inside an EventBridge event's `detail`;
    `"verify": true` runs it as `freightliner sync --verify` does."""

    model_config = ConfigDict(extra="ignore")

    sync: str = Field(min_length=1)
    verify: bool = Field(
        default=False,
        description="check every image the destination has, blob by blob, trusting no "
        "cached metadata",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_detail(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("detail"):
            return raw["detail"]
        return raw
