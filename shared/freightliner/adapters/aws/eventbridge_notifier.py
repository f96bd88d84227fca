"""Job ends as EventBridge events (`freightliner` / `Freightliner Job Finished`), for alerts
and dashboards. Publishing is best effort: the job is already closed and logged."""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from freightliner.domain.jobs import JobRecord

SOURCE = "freightliner"
DETAIL_TYPE = "Freightliner Job Finished"
log = logging.getLogger(__name__)


class EventBridgeJobNotifier:
    def __init__(self, client: Any, bus: str) -> None:
        self._client = client  # a boto3 EventBridge client, built by the composition root
        self._bus = bus

    def job_finished(self, job: JobRecord) -> None:
        detail = job.model_dump(exclude={"detail"}) | {"sync": job.detail.get("sync")}
        try:
            response = self._client.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": json.dumps(detail),
                        "EventBusName": self._bus,
                        "Resources": [],
                    }
                ]
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("job %s: could not publish its end to %s: %s", job.job_id, self._bus, exc)
            return
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0].get("ErrorCode", "unknown error")
            log.warning("job %s: EventBridge refused its end event: %s", job.job_id, failed)
