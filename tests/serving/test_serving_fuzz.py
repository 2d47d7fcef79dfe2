"""Fuzz the OpenAPI document with schemathesis: no input the schema allows or forbids is a 500."""

from __future__ import annotations

import itertools

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from tests.serving.conftest import MODELS

from limelight.registry import Registry
from limelight.serving import serve_in_background


def test_openapi_fuzz(registry: Registry) -> None:
    handle = serve_in_background(MODELS, in_process=True, max_body_bytes=20_000)
    try:
        schema = schemathesis.openapi.from_url(f"{handle.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 7
        for operation, mode in itertools.product(operations, GenerationMode):
            if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
                continue  # nothing to break in a GET without parameters

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=15,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                case.call_and_validate()

            fuzz()
    finally:
        handle.stop()
