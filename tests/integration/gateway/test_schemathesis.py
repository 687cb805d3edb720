"""Schemathesis against the real gateway and services: no 5xx, and nothing the document allows
is refused as bad input, on the campaign and component routes (a bounded run).

The rules a schema cannot state are that a send time or a deadline must be in the
future (a deadline after the planned start too) and that a campaign's purpose must
be in consent's catalogue (active, for email):
the document says both in words, and a positive case refused for those alone
is not counted.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, Gateway

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)


def _only_what_the_schema_cannot_state(problem: dict[str, Any]) -> bool:
    errors = problem.get("errors") or []
    return bool(errors) and all(
        (e["field"] == "send_at" and "future" in e["description"])
        or (e["field"] == "deadline" and "after" in e["description"])
        or (e["field"] == "deadline" and "future" in e["description"])
        or (e["field"] == "purpose" and "catalogue" in e["description"])
        # An opaque page token of the right shape that no list issued: a schema cannot say.
        or (e["field"] == "page_token" and "returned by this listing" in e["description"])
        for e in errors
    )


def test_no_5xx_and_no_valid_input_refused(gateway: Gateway) -> None:
    # Every role the routes under test may need, acting for a registered component.
    token = gateway.keys.issuer.mint(f"fuzz@{A}", component=A, roles=["admin", "campaign_manager"])
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{gateway.api.base}/openapi.json")
    schema = schema.include(path_regex=r"^/v1/(campaigns|components)")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 17  # campaigns (their lifecycle steps, preview), components and their
    # services and attributes
    refused: list[Any] = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=20,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.method, case.path, response.text)
                positive = case.meta.generation.mode == GenerationMode.POSITIVE
                if positive and response.status_code == 400:
                    problem = response.json()
                    if not _only_what_the_schema_cannot_state(problem):
                        refused.append((case.method, case.formatted_path, problem["detail"]))

            run()
    assert not refused, "\n".join(map(str, sorted(set(refused))))
