"""A handler invoked as Lambda invokes it (the Tracer built, which opens the X-Ray emitter's
UDP socket: not a unit test) counts its cold start once per execution environment."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.metrics.provider.base import reset_cold_start_flag_provider

from freightliner.harness.functions import load_handler
from freightliner.harness.lambda_runtime import LocalContext
from tests.support.emf import named


def test_a_cold_start_is_counted_once_per_execution_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = load_handler("replicate").handler
    reset_cold_start_flag_provider()
    context = LocalContext()
    assert handler({"Records": []}, context) == {"batchItemFailures": []}
    assert handler({"Records": []}, context) == {"batchItemFailures": []}
    [cold] = named(capsys.readouterr().out, "ColdStart")
    assert cold.dimensions == {"function_name": context.function_name, "service": "freightliner"}
    assert cold.namespace == "Freightliner"
