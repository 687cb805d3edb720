"""Schemathesis against the real gateway and services, with an admin token on the admin's routes
and a manager token on the campaigns (a bounded run): no 5xx, every answer as the document
declares it (status, media type, body, headers), negative data refused, and nothing the
document allows refused as bad input.

The rules a schema cannot state are that a send time or a deadline must be in the
future (a deadline after the planned start too), that a purpose must be in consent's
catalogue (for a campaign: active, for email; consent answers an unknown one in a
path with 400, not 404) and that a page token must come from a previous page:
the document says both in words, and a positive case refused for those alone
is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from tests.integration.gateway.conftest import campaigns_available
from tests.integration.gateway.harness import A, Gateway

pytestmark = pytest.mark.skipif(
    not campaigns_available(), reason="services/campaigns has no bootstrap.py yet"
)
EXAMPLES = 5  # per operation and mode, and token: the whole file stays near a minute
EXPECTED_OPERATIONS = 30  # 18 for the manager (campaigns), 12 for the admin


def _not_in_catalogue(description: str) -> bool:
    words = ("catalogue", "unknown purpose", "email channel", "no longer active")
    return any(w in description for w in words)


def _only_what_the_schema_cannot_state(problem: dict[str, Any]) -> bool:
    errors = problem.get("errors") or []
    return bool(errors) and all(
        (e["field"] == "send_at" and "future" in e["description"])
        or (e["field"] == "deadline" and "after" in e["description"])
        or (e["field"] == "deadline" and "future" in e["description"])
        or (e["field"] == "purpose" and _not_in_catalogue(e["description"]))
        # An opaque page token of the right shape that no list issued: a schema cannot say.
        or (e["field"] == "page_token" and "previous page" in e["description"])
        or (e["field"] == "page_token" and "returned by this listing" in e["description"])
        for e in errors
    )


# What every answer is checked for, beyond the no-5xx rule: its status, media type, body
# and headers are those the document declares, and negative data is refused.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]
# The admin's routes and the manager's: each role on the operations it exists for.
ADMIN_ROUTES = r"^/v1/(components|consent/(purposes|basis-rules)|pressure-policy|organisation)"
MANAGER_ROUTES = r"^/v1/campaigns"


def _tokens(gateway: Gateway) -> Iterator[tuple[str, Callable[[str], str]]]:
    """(routes, a token for each operation): one subject per operation, so that the run
    never spends one caller's rate limits."""
    issuer = gateway.keys.issuer
    yield ADMIN_ROUTES, lambda name: issuer.mint(f"fuzz-{name}@grouping", roles=["admin"])
    yield MANAGER_ROUTES, lambda name: gateway.keys.manager(A, subject=f"fuzz-{name}@{A}")


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[Any]:
    """Runs one operation in one mode; returns the positive cases refused as bad input."""
    refused: list[Any] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        asked = CHECKS
        if response.status_code == 413:  # too large is a refusal too (schemathesis omits it)
            asked = [check for check in CHECKS if check is not checks.negative_data_rejection]
        case.validate_response(response, checks=asked, headers=headers)
        positive = case.meta.generation.mode == GenerationMode.POSITIVE
        if positive and response.status_code == 400:
            problem = response.json()
            if not _only_what_the_schema_cannot_state(problem):
                refused.append((case.method, case.formatted_path, problem["detail"]))

    run()
    return refused


def test_no_5xx_answers_as_documented_and_no_valid_input_refused(gateway: Gateway) -> None:
    schema = schemathesis.openapi.from_url(f"{gateway.api.base}/openapi.json")
    refused: list[Any] = []
    counted = 0
    for routes, token in _tokens(gateway):
        operations = [r.ok() for r in schema.include(path_regex=routes).get_all_operations()]
        counted += len(operations)
        for operation in operations:
            headers = {"Authorization": f"Bearer {token(operation.label)}"}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                refused += _fuzz(operation, mode, headers)
    # campaigns (their lifecycle steps, preview); components, their services and attributes;
    # the consent catalogue, basis rules, pressure policy and the organisation tree
    assert counted == EXPECTED_OPERATIONS
    assert not refused, "\n".join(map(str, sorted(set(refused))))
