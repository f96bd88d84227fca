"""The Lambda root traces registry requests through the Tracer; other roots trace nothing."""

from __future__ import annotations

import time

# Importing the X-Ray SDK creates its UDP emitter's socket (it sends nothing); done here, at
# collection, before the no-network fixture, so the test does not depend on which ran first.
import aws_xray_sdk.core  # noqa: F401

from freightliner.bootstrap.aws_pipeline import AwsPipeline
from freightliner.bootstrap.lambda_root import LambdaRoot
from freightliner.bootstrap.request_tracing import XRayRequests
from freightliner.registry.observe import RequestRecord, operation_name
from freightliner.settings import Settings


def test_only_the_lambda_root_observes_registry_requests() -> None:
    lambda_root = LambdaRoot(Settings(region="eu-west-1"))
    assert isinstance(lambda_root.request_observer(), XRayRequests)
    assert AwsPipeline(Settings(region="eu-west-1")).request_observer() is None
    clients = lambda_root.registry_clients
    try:
        assert isinstance(clients.client("registry.example").transport.observer, XRayRequests)
    finally:
        clients.close()


def test_with_tracing_disabled_a_request_is_recorded_into_nothing() -> None:
    """Outside Lambda Powertools' Tracer runs disabled: the observer must not fail a copy."""
    lambda_root = LambdaRoot(Settings(region="eu-west-1"))
    observer = lambda_root.request_observer()
    assert observer is not None
    record = RequestRecord("registry.example", "blob-get", "GET", 200, 0, 10, time.time(), 0.1)
    observer.request_finished(record)  # raises nothing, records nowhere


def test_operation_names() -> None:
    assert operation_name("GET", "GET manifest") == "manifest-get"
    assert operation_name("PUT", "PATCH blob") == "blob-upload-commit"
    assert operation_name("POST", "mount blob from team/base") == "blob-mount"
    assert operation_name("GET", "read upload state") == "read-upload-state"  # unknown: its words
