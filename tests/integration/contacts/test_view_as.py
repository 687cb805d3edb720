"""GetContact "view as": an administrator sees a contact exactly as a placement would.

The view is computed by contacts' own policy code: for every placement tried, it
equals what GetContact answers to a real token with that placement. Only
administrators may ask; a placement the tree does not know is refused per field;
each protected value shown is audited as the administrator's read.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protos.crm.contacts.v1 import contacts_pb2 as pb
from tests.integration.contacts.harness import (
    ContactsServer,
    declare,
    field_violations,
    set_policy,
)

SCI, LAW, MED = "sciences", "droit", "medecine"
LEVELS = ["agent", "manager", "director"]
SECRET = "owner-only-7713"
ALUMNI_ONLY = "alumni-only-4242"
MANAGERS_UP = "managers-up-9090"


def token(server: ContactsServer, subject: str, roles: list[str], **claims: str) -> str:
    return server.keys.issuer.mint(subject, roles=roles, **claims)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def world(server: ContactsServer) -> tuple[ContactsServer, str]:
    """Three components, services in two of them, three levels, and one contact of SCI
    (joined by LAW) whose fields each have another policy."""
    admin = server.keys.admin()
    for component in (SCI, LAW, MED):
        server.call(
            "CreateComponent", pb.CreateComponentRequest(id=component, name=component), admin
        )
    for component, service in ((SCI, "alumni"), (SCI, "stages"), (LAW, "alumni")):
        server.call(
            "CreateService",
            pb.CreateServiceRequest(component_id=component, id=service, name=service),
            admin,
        )
    server.call("SetLevels", pb.SetLevelsRequest(levels=LEVELS), admin)
    secret = declare(server, SCI, "secret")
    alumni = declare(server, SCI, "alumni_note")
    managers = declare(server, SCI, "managers_note")
    set_policy(server, secret, read=[{"audience": "owner"}])
    set_policy(server, alumni, read=[{"audience": "grouping", "service": "alumni"}])
    set_policy(server, managers, read=[{"audience": "members", "min_level": "manager"}])
    set_policy(server, "organisation", read=[{"audience": "grouping"}])
    set_policy(server, "first_name", read=[{"audience": "owner"}, {"audience": "members"}])
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    editor = server.keys.manager(SCI)
    created = server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON,
            fields={
                "email": email,
                "first_name": "Marie",
                "last_name": "Curie",
                "organisation": "ACME",
                secret: SECRET,
                alumni: ALUMNI_ONLY,
                managers: MANAGERS_UP,
            },
        ),
        editor,
    ).contact
    server.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON, fields={"email": email, "first_name": "M."}
        ),
        server.keys.manager(LAW),
    )
    return server, created.id


def view_as(
    server: ContactsServer,
    contact_id: str,
    component: str,
    service: str = "",
    level: str = "",
    caller: str | None = None,
) -> pb.Contact:
    request = pb.GetContactRequest(
        id=contact_id, view_as=pb.ViewAs(component_id=component, service_id=service, level=level)
    )
    return server.call("GetContact", request, caller or server.keys.admin())  # type: ignore[no-any-return]


def as_placed(
    server: ContactsServer, contact_id: str, component: str, service: str = "", level: str = ""
) -> pb.Contact:
    claims = {"component": component}
    if service:
        claims["service"] = service
    if level:
        claims["level"] = level
    viewer = token(server, f"viewer-{uuid.uuid4().hex[:8]}", ["viewer"], **claims)
    return server.call("GetContact", pb.GetContactRequest(id=contact_id), viewer)  # type: ignore[no-any-return]


PLACEMENTS = [
    (SCI, "", ""),
    (SCI, "alumni", "agent"),
    (SCI, "stages", "director"),
    (LAW, "", ""),
    (LAW, "alumni", "manager"),
    (LAW, "", "agent"),
    (MED, "", ""),
    (MED, "", "director"),
]


@pytest.mark.parametrize(("component", "service", "level"), PLACEMENTS)
def test_view_as_equals_what_a_real_token_of_that_placement_gets(
    world: tuple[ContactsServer, str], component: str, service: str, level: str
) -> None:
    server, contact_id = world
    seen = view_as(server, contact_id, component, service, level)
    real = as_placed(server, contact_id, component, service, level)
    assert seen == real  # every field, owner, member and the etag of that view


def test_each_placement_sees_what_its_policies_allow(world: tuple[ContactsServer, str]) -> None:
    server, contact_id = world
    owner = view_as(server, contact_id, SCI)
    assert owner.fields[f"{SCI}.secret"].value == SECRET
    law = view_as(server, contact_id, LAW)
    assert SECRET not in str(law) and f"{SCI}.secret" not in law.fields
    assert ALUMNI_ONLY not in str(law) and MANAGERS_UP not in str(law)
    assert law.fields["first_name"].value == "M."  # its own value first
    law_alumni = view_as(server, contact_id, LAW, "alumni", "manager")
    assert law_alumni.fields[f"{SCI}.alumni_note"].value == ALUMNI_ONLY
    assert law_alumni.fields[f"{SCI}.managers_note"].value == MANAGERS_UP
    assert SECRET not in str(law_alumni)
    outsider = view_as(server, contact_id, MED, "", "director")
    # The grouping-wide field and the derived display name only: no member's own values.
    assert set(outsider.fields) == {"organisation", "display_name"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    placement=st.sampled_from(
        [(SCI, "alumni"), (SCI, "stages"), (SCI, ""), (LAW, "alumni"), (LAW, ""), (MED, "")]
    ),
    level=st.sampled_from(["", *LEVELS]),
)
def test_view_as_matches_real_tokens_for_any_placement(
    world: tuple[ContactsServer, str], placement: tuple[str, str], level: str
) -> None:
    server, contact_id = world
    component, service = placement
    assert view_as(server, contact_id, component, service, level) == as_placed(
        server, contact_id, component, service, level
    )


def test_only_administrators_may_view_as(world: tuple[ContactsServer, str]) -> None:
    server, contact_id = world
    callers = [
        server.keys.manager(SCI),
        token(server, "dpo@grouping", ["dpo"]),
        token(server, "viewer@sciences", ["viewer"], component=SCI),
        server.keys.service(),
    ]
    for caller in callers:
        request = pb.GetContactRequest(id=contact_id, view_as=pb.ViewAs(component_id=LAW))
        error = server.fails("GetContact", request, caller)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
        assert SECRET not in str(error.details())  # type: ignore[attr-defined]


def test_an_unknown_placement_is_refused_per_field(world: tuple[ContactsServer, str]) -> None:
    server, contact_id = world
    admin = server.keys.admin()
    cases = [
        (pb.ViewAs(component_id="nowhere"), {"view_as.component_id"}),
        (pb.ViewAs(), {"view_as.component_id"}),
        (pb.ViewAs(component_id=MED, service_id="alumni"), {"view_as.service_id"}),
        (pb.ViewAs(component_id=SCI, level="emperor"), {"view_as.level"}),
        (
            pb.ViewAs(component_id="nowhere", service_id="x", level="y"),
            {"view_as.component_id", "view_as.service_id", "view_as.level"},
        ),
    ]
    for placement, fields in cases:
        request = pb.GetContactRequest(id=contact_id, view_as=placement)
        error = server.fails("GetContact", request, admin)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        assert set(field_violations(error)) == fields


def test_an_unknown_contact_is_not_found_as_for_anyone(world: tuple[ContactsServer, str]) -> None:
    server, _ = world
    request = pb.GetContactRequest(id=str(uuid.uuid4()), view_as=pb.ViewAs(component_id=SCI))
    error = server.fails("GetContact", request, server.keys.admin())
    assert error.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_view_as_reads_are_audited_as_the_admins(world: tuple[ContactsServer, str]) -> None:
    server, contact_id = world
    query = (
        "SELECT subject, field, owner_component, route FROM sensitive_reads"
        " WHERE contact_id = :id AND route LIKE 'GetContact:view_as:%'"
    )
    before = len(server.sql(query, id=contact_id))
    view_as(server, contact_id, LAW, "alumni", "manager")
    rows = server.sql(query, id=contact_id)[before:]
    audited = {(r.subject, r.field, r.owner_component, r.route) for r in rows}
    route = f"GetContact:view_as:{LAW}"
    assert ("admin@grouping", f"{SCI}.alumni_note", SCI, route) in audited
    assert ("admin@grouping", f"{SCI}.managers_note", SCI, route) in audited
    assert not any(r.field == f"{SCI}.secret" for r in rows)  # not shown, not audited
    assert all(r.subject == "admin@grouping" for r in rows)
    # The owner's data-protection officer finds the admin's read in its audit.
    dpo = token(server, "dpo@sciences", ["dpo"], component=SCI)
    reads = server.call(
        "ListSensitiveReads", pb.ListSensitiveReadsRequest(contact_id=contact_id), dpo
    )
    assert any(
        r.subject == "admin@grouping" and r.field == f"{SCI}.alumni_note" for r in reads.reads
    )


def test_without_view_as_an_admin_reads_as_itself(world: tuple[ContactsServer, str]) -> None:
    server, contact_id = world
    own = server.call("GetContact", pb.GetContactRequest(id=contact_id), server.keys.admin())
    assert SECRET not in str(own)  # a grouping-level admin is in no component
