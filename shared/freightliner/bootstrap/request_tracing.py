"""Registry requests as X-Ray subsegments, so a Lambda trace shows where a copy spends its
time: one `remote` subsegment per request, named after the registry host, annotated with the
operation (manifest-get, blob-upload, …) and status, with the bytes each way.

The recorder is asked for when the first request ends (during an invocation), never at import:
building the Tracer loads aws_xray_sdk, which the cold start should not pay. Requests made on
the copy's worker threads land under the function's segment (the SDK's Lambda context keeps
one per thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from freightliner.registry.observe import RequestRecord


class XRayRequests:
    """A `RequestObserver` recording each request into X-Ray after it ended (with its real
    start and end times)."""

    def __init__(self, recorder: Callable[[], Any]) -> None:
        self._recorder = recorder

    def request_finished(self, record: RequestRecord) -> None:
        recorder = self._recorder()
        subsegment = recorder.begin_subsegment(record.host, namespace="remote")
        if subsegment is None:  # no segment to hang it on (the SDK logged why)
            return
        try:
            subsegment.start_time = record.started
            subsegment.put_annotation("registry", record.host)
            subsegment.put_annotation("operation", record.operation)
            subsegment.put_http_meta("method", record.method)
            if record.status is not None:
                subsegment.put_annotation("status", record.status)
                subsegment.put_http_meta("status", record.status)  # error/fault/throttle flags
            else:
                subsegment.add_fault_flag()
            subsegment.put_metadata(
                "request",
                {
                    "operation": record.operation,
                    "bytes_sent": record.bytes_sent,
                    "bytes_received": record.bytes_received,
                    "error": record.error,
                },
                "freightliner",
            )
        finally:
            recorder.end_subsegment(end_time=record.started + record.seconds)
