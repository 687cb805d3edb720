"""Fake contacts and pressure services for the indicators and dashboard pages' unit tests.

Each records every request it receives (method, message), so a test can say what a page
asked and, as much, what it did not ask. Their answers are set by the test; a suppressed
cell or figure may carry a value on purpose (a service that forgot to blank it), which the
page must never show.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest

from protos.crm.campaigns.v1 import pressure_pb2 as ppb
from protos.crm.campaigns.v1 import pressure_pb2_grpc
from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from services.gateway.settings import GatewaySettings
from tests.support.tokens import AUDIENCE, ISSUER, TestKeys
from tests.unit.gateway.harness import UNSUBSCRIBE_SECRET

SECRET = "999331"  # a suppressed cell's value: no page may ever show it


def cell(*coordinates: str | None, value: str = "", reason: int = 0) -> pb.AggregateCell:
    """A cell: None is a margin; a reason makes it suppressed (keeping `value` on purpose)."""
    made = pb.AggregateCell(published=not reason, value=value or SECRET, reason=reason)
    for coordinate in coordinates:
        made.coordinates.add(value=coordinate or "", total=coordinate is None)
    return made


def answer() -> pb.AggregateResponse:
    """Sum by sector: two published sectors, one too small, its complement, the margin."""
    reply = pb.AggregateResponse(rules=pb.DisclosureRules(k=5, p=80, min_components=2), query="q-1")
    reply.cells.extend(
        [
            cell("industrie", value="1200.5"),
            cell("services", value="830"),
            cell("=HYPERLINK(1)", reason=pb.SUPPRESSION_REASON_TOO_FEW_CONTACTS),
            cell("santé", reason=pb.SUPPRESSION_REASON_COMPLEMENTARY),
            cell(None, value="4000"),
        ]
    )
    return reply


class FakeContacts(contacts_pb2_grpc.ContactsServiceServicer):
    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.reply = answer()
        self.refusal = ""  # a PERMISSION_DENIED message Aggregate answers instead
        self.rules = pb.DisclosureRules(k=5, p=80, min_components=2)
        self.dimensions = [
            pb.Dimension(id="sector", label_fr="Secteur", label_en="Sector",
                         source=pb.DIMENSION_SOURCE_FIELD, field="sector"),
            pb.Dimension(id="component", label_fr="Composante", label_en="Component",
                         source=pb.DIMENSION_SOURCE_COMPONENT),
        ]  # fmt: skip

    def asked(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]

    def _note(self, method: str, request: Any) -> None:
        self.requests.append((method, request))

    def GetCatalogue(self, request: Any, context: Any) -> pb.Catalogue:
        self._note("GetCatalogue", request)
        return pb.Catalogue(
            fields=[
                pb.FieldDefinition(field="first_name", type=pb.FIELD_TYPE_TEXT),
                pb.FieldDefinition(
                    field="apprenticeship_tax_amount",
                    type=pb.FIELD_TYPE_NUMBER,
                    label_fr="Taxe d'apprentissage",
                    label_en="Apprenticeship tax",
                ),
            ]
        )

    def ListDimensions(self, request: Any, context: Any) -> pb.ListDimensionsResponse:
        self._note("ListDimensions", request)
        return pb.ListDimensionsResponse(dimensions=self.dimensions)

    def PutDimension(self, request: pb.Dimension, context: Any) -> pb.Dimension:
        self._note("PutDimension", request)
        if not request.id:
            _invalid(context, "id", "required")
        return request

    def DeleteDimension(self, request: Any, context: Any) -> pb.DeleteDimensionResponse:
        self._note("DeleteDimension", request)
        return pb.DeleteDimensionResponse()

    def GetDisclosureRules(self, request: Any, context: Any) -> pb.DisclosureRules:
        self._note("GetDisclosureRules", request)
        return self.rules

    def SetDisclosureRules(self, request: pb.DisclosureRules, context: Any) -> pb.DisclosureRules:
        self._note("SetDisclosureRules", request)
        if request.p > 100:
            _invalid(context, "p", "at most 100")
        self.rules = pb.DisclosureRules(k=request.k, p=request.p, min_components=2)
        return self.rules

    def Aggregate(self, request: pb.AggregateRequest, context: Any) -> pb.AggregateResponse:
        self._note("Aggregate", request)
        if self.refusal:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, self.refusal)
        return self.reply

    def ListComponents(self, request: Any, context: Any) -> pb.ListComponentsResponse:
        self._note("ListComponents", request)
        return pb.ListComponentsResponse(
            components=[pb.Component(id="sciences", name="Sciences"),
                        pb.Component(id="lettres", name="Lettres")]
        )  # fmt: skip

    def ListFieldPolicies(self, request: Any, context: Any) -> pb.ListFieldPoliciesResponse:
        self._note("ListFieldPolicies", request)
        return pb.ListFieldPoliciesResponse()

    def SetFieldPolicy(self, request: pb.SetFieldPolicyRequest, context: Any) -> pb.FieldPolicy:
        self._note("SetFieldPolicy", request)
        return request.policy


def _invalid(context: Any, field: str, description: str) -> None:
    from google.rpc import code_pb2, error_details_pb2, status_pb2
    from grpc_status import rpc_status

    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
        ]
    )
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="invalid")
    status.details.add().Pack(detail)
    context.abort_with_status(rpc_status.to_status(status))


def dashboard(component: str = "") -> ppb.PressureDashboard:
    reply = ppb.PressureDashboard(month="2026-10", component=component, k=5, p=80,
                                  computed_at="2026-11-01T02:00:00Z")  # fmt: skip
    add = reply.figures.add
    add(series="contacts_reached", component=component, published=True, value=400)
    add(series="at_cap", component=component, published=True, value=40)
    for bucket, value in (("1", 210), ("2", 120), ("3", 60)):
        add(series="messages_per_month", component=component, bucket=bucket, published=True,
            value=value)  # fmt: skip
    add(series="messages_per_month", component=component, bucket="10+", published=False,
        value=int(SECRET), reason="too_few_contacts")  # fmt: skip
    add(series="messages_per_week", component=component, bucket="1", published=True, value=700)
    add(series="deferrals", component="sciences", purpose="newsletter", published=True, value=12)
    add(series="unsubscribes", component="sciences", purpose="newsletter", published=False,
        value=int(SECRET), reason="too_few_contacts")  # fmt: skip
    add(series="objections", component="sciences", purpose="newsletter", published=True, value=0)
    return reply


class FakePressure(pressure_pb2_grpc.PressurePolicyServiceServicer):
    def __init__(self) -> None:
        self.requests: list[ppb.GetPressureDashboardRequest] = []
        self.refusal = ""

    def GetPressureDashboard(
        self, request: ppb.GetPressureDashboardRequest, context: Any
    ) -> ppb.PressureDashboard:
        self.requests.append(request)
        if self.refusal:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, self.refusal)
        return dashboard(request.component)


class Fakes:
    def __init__(self, target: str, contacts: FakeContacts, pressure: FakePressure) -> None:
        self.target = target
        self.contacts = contacts
        self.pressure = pressure

    def reset(self) -> None:
        self.contacts.__init__()  # type: ignore[misc]
        self.pressure.__init__()  # type: ignore[misc]


@pytest.fixture(scope="module", name="fakes")
def fakes_fixture() -> Iterator[Fakes]:
    contacts, pressure = FakeContacts(), FakePressure()
    server = grpc.server(ThreadPoolExecutor(4))
    contacts_pb2_grpc.add_ContactsServiceServicer_to_server(contacts, server)
    pressure_pb2_grpc.add_PressurePolicyServiceServicer_to_server(pressure, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield Fakes(f"127.0.0.1:{port}", contacts, pressure)
    server.stop(None)


@pytest.fixture(scope="module", name="settings")
def settings_fixture(keys: TestKeys, fakes: Fakes) -> GatewaySettings:
    """The unit tier's settings, every upstream being the fakes."""
    return GatewaySettings(
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=keys.public_file,
        service_keys_file=keys.service_keys_file,
        service_private_key_file=keys.service_private_file("gateway"),
        contacts_target=fakes.target,
        consent_target=fakes.target,
        campaigns_target=fakes.target,
        rpc_timeout_seconds=2.0,
        unsubscribe_secret=UNSUBSCRIBE_SECRET,
    )
