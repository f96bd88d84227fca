"""Runs one Lambda handler the way the Lambda runtime does, inside a shipped virtualenv:
the function's directory (CodeUri, /var/task) and the package layer (/opt/python) on the path,
`app.handler(event, context)` called once. Only the standard library is imported here, so the
handler imports exactly what the deployed function would.

usage: python lambda_runner.py FUNCTION_DIR LAYER_DIR EVENT_JSON RESULT_JSON
The result file gets {"result": ...} or {"errorType": ..., "errorMessage": ...}.
"""

import json
import os
import sys
import time
import uuid


class Context:
    """The attributes of Lambda's context object the handlers and Powertools read."""

    def __init__(self, name: str, timeout: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1024
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "as-deployed"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    function_dir, layer_dir, event_path, result_path = sys.argv[1:5]
    sys.path[:1] = [function_dir, layer_dir]  # never this checkout's tests directory
    with open(event_path) as file:
        event = json.load(file)
    name = os.path.basename(function_dir.rstrip("/"))
    context = Context(name, float(os.environ.get("AS_DEPLOYED_TIMEOUT", "900")))
    try:
        import app  # noqa: PLC0415 - the function's module, as the runtime imports "app.handler"

        outcome = {"result": app.handler(event, context)}
    except Exception as exc:  # what the Lambda runtime reports for an unhandled error
        outcome = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
    with open(result_path, "w") as file:
        json.dump(outcome, file, default=str)
    return 0 if "result" in outcome else 1


if __name__ == "__main__":
    sys.exit(main())
