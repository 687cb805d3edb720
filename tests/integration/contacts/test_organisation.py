"""The organisation tree, the catalogue and the field policies against a real contacts process.

Also: tokens checked against the tree (unknown names refused, the tree's roles
authoritative), every RPC refused without the role the shared table declares,
and a policy change seen by a second contacts process on the same database.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import message_factory
from sqlalchemy import text

from meshkit.access import RPC_ROLES
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from protos.crm.contacts.v1 import contacts_pb2_grpc
from tests.integration.contacts.harness import ContactsServer, error_text, field_violations
from tests.support.processes import free_port, service_process, wait_grpc_healthy

SCI, LAW = "sciences", "droit"
SERVICE = pb.DESCRIPTOR.services_by_name["ContactsService"]
TABLES = (
    "components",
    "org_services",
    "org_levels",
    "people",
    "attribute_definitions",
    "field_policies",
    "field_policy_changes",
    "contacts",
    "contact_values",
    "memberships",
)


def snapshot(server: ContactsServer) -> dict[str, int]:
    return {table: server.count(table) for table in TABLES}


@pytest.fixture(scope="module")
def tree(server: ContactsServer) -> ContactsServer:
    """Two components, a service, three levels: the tree every test here starts from."""
    admin = server.keys.admin()
    for component in (SCI, LAW):
        server.call(
            "CreateComponent", pb.CreateComponentRequest(id=component, name=component), admin
        )
    server.call(
        "CreateService",
        pb.CreateServiceRequest(component_id=SCI, id="alumni", name="Alumni"),
        admin,
    )
    server.call("SetLevels", pb.SetLevelsRequest(levels=["agent", "manager", "director"]), admin)
    return server


def token(server: ContactsServer, subject: str, roles: list[str], **claims: str) -> str:
    return server.keys.issuer.mint(subject, roles=roles, **claims)  # type: ignore[arg-type]


def new_person(server: ContactsServer, editor: str, email: str) -> pb.Contact:
    request = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": email, "first_name": "Marie"}
    )
    return server.call("CreateContact", request, editor).contact


# --- The tree ------------------------------------------------------------------------------


def test_the_tree_is_built_and_read_people_for_admins_only(tree: ContactsServer) -> None:
    admin = tree.keys.admin()
    person = pb.Person(
        subject="bob@sciences", component_id=SCI, service_id="alumni", level="manager",
        roles=["contact_editor", "viewer"],
    )  # fmt: skip
    tree.call("PutPerson", pb.PutPersonRequest(person=person), admin)
    whole = tree.call("GetOrganisation", pb.GetOrganisationRequest(), admin)
    assert {c.id for c in whole.components} >= {SCI, LAW}
    assert [(s.component_id, s.id) for s in whole.services] == [(SCI, "alumni")]
    assert list(whole.levels) == ["agent", "manager", "director"]
    assert person in list(whole.people)
    reader = token(tree, "carol@droit", ["viewer"], component=LAW)
    seen = tree.call("GetOrganisation", pb.GetOrganisationRequest(), reader)
    assert list(seen.levels) == ["agent", "manager", "director"] and not seen.people
    tree.call("RemovePerson", pb.RemovePersonRequest(subject="bob@sciences"), admin)
    after = tree.call("GetOrganisation", pb.GetOrganisationRequest(), admin)
    assert "bob@sciences" not in {p.subject for p in after.people}


def test_a_person_naming_what_the_tree_does_not_know_is_refused_whole(
    tree: ContactsServer,
) -> None:
    before = snapshot(tree)
    person = pb.Person(
        subject="eve@x", component_id="nowhere", service_id="alumni", level="boss",
        roles=["service", "superuser"],
    )  # fmt: skip
    error = tree.fails("PutPerson", pb.PutPersonRequest(person=person), tree.keys.admin())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = field_violations(error)
    assert set(violations) >= {"person.roles[0]", "person.roles[1]"}
    person = pb.Person(subject="eve@x", component_id=LAW, service_id="alumni", level="boss")
    error = tree.fails("PutPerson", pb.PutPersonRequest(person=person), tree.keys.admin())
    assert set(field_violations(error)) == {"person.service_id", "person.level"}
    assert snapshot(tree) == before


def test_levels_and_services_are_checked(tree: ContactsServer) -> None:
    admin = tree.keys.admin()
    error = tree.fails("SetLevels", pb.SetLevelsRequest(levels=["A b", "agent", "agent"]), admin)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = pb.CreateServiceRequest(component_id="nowhere", id="alumni", name="Alumni")
    assert tree.fails("CreateService", request, admin).code() == grpc.StatusCode.NOT_FOUND
    request = pb.CreateServiceRequest(component_id=SCI, id="alumni", name="Again")
    assert tree.fails("CreateService", request, admin).code() == grpc.StatusCode.ALREADY_EXISTS


# --- Tokens against the tree ----------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [
        {"component": "nowhere"},
        {"component": SCI, "service": "ghosts"},
        {"component": SCI, "level": "emperor"},
    ],
    ids=["component", "service", "level"],
)
def test_a_token_naming_what_the_tree_does_not_know_is_refused(
    tree: ContactsServer, claims: dict[str, str]
) -> None:
    caller = token(tree, "mallory@nowhere", ["viewer", "contact_editor"], **claims)
    for method, request in (
        ("ListComponents", pb.ListComponentsRequest()),
        ("GetCatalogue", pb.GetCatalogueRequest()),
    ):
        error = tree.fails(method, request, caller)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "organisation does not know" in error.details()
        text = error_text(error)
        assert "mallory" not in text and all(v not in text for v in claims.values())


def test_service_tokens_are_exempt_and_known_names_pass(tree: ContactsServer) -> None:
    request = pb.ExistingContactsRequest(ids=[])
    tree.call("ExistingContacts", request, tree.keys.service("campaigns"))
    known = token(tree, "ann@sciences", ["viewer"], component=SCI, service="alumni", level="agent")
    tree.call("ListComponents", pb.ListComponentsRequest(), known)


def test_the_tree_overrides_the_roles_and_place_a_token_carries(tree: ContactsServer) -> None:
    admin = tree.keys.admin()
    subject = "dan@sciences"
    bare = token(tree, subject, [], component=SCI)  # no role at all in the token
    request = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": "dan-contact@example.org"}
    )
    assert tree.fails("CreateContact", request, bare).code() == grpc.StatusCode.PERMISSION_DENIED
    person = pb.Person(subject=subject, component_id=SCI, roles=["contact_editor"])
    tree.call("PutPerson", pb.PutPersonRequest(person=person), admin)
    created = tree.call("CreateContact", request, bare).contact
    assert created.member_components == [SCI]
    # The tree takes roles away too, and its component wins over the token's.
    loaded = token(tree, subject, ["contact_editor", "admin"], component="nowhere")
    person = pb.Person(subject=subject, component_id=LAW, roles=["viewer"])
    tree.call("PutPerson", pb.PutPersonRequest(person=person), admin)
    other = pb.CreateContactRequest(
        kind=pb.CONTACT_KIND_PERSON, fields={"email": "dan-other@example.org"}
    )
    assert tree.fails("CreateContact", other, loaded).code() == grpc.StatusCode.PERMISSION_DENIED
    seen = tree.call("GetContact", pb.GetContactRequest(id=created.id), loaded)
    assert "email" not in seen.fields  # read as droit, a non-member: the owner's value is hidden
    tree.call("RemovePerson", pb.RemovePersonRequest(subject=subject), admin)


# --- Catalogue ------------------------------------------------------------------------------


def test_the_catalogue_lists_core_fields_then_attributes(tree: ContactsServer) -> None:
    admin = tree.keys.admin()
    attribute = pb.AttributeDefinition(
        component_id=SCI, key="tier", type=pb.FIELD_TYPE_ENUM, choices=["gold", "silver"],
        label_fr="Niveau", label_en="Tier",
    )  # fmt: skip
    tree.call("DefineAttribute", pb.DefineAttributeRequest(attribute=attribute), admin)
    reader = token(tree, "carol@droit", ["viewer"], component=LAW)
    fields = tree.call("GetCatalogue", pb.GetCatalogueRequest(), reader).fields
    names = [f.field for f in fields]
    assert names[0] == "first_name" and "email" in names
    tier = next(f for f in fields if f.field == "sciences.tier")
    assert tier.component_id == SCI and list(tier.choices) == ["gold", "silver"]
    assert names.index("sciences.tier") > names.index("company_id")


def test_an_attribute_is_retyped_only_while_no_value_is_held(tree: ContactsServer) -> None:
    admin = tree.keys.admin()

    def define(kind: int, choices: list[str] = ()) -> pb.AttributeDefinition:  # type: ignore[assignment]
        attribute = pb.AttributeDefinition(
            component_id=SCI, key="budget", type=kind, choices=choices
        )
        return pb.DefineAttributeRequest(attribute=attribute)

    tree.call("DefineAttribute", define(pb.FIELD_TYPE_TEXT), admin)
    tree.call("DefineAttribute", define(pb.FIELD_TYPE_NUMBER), admin)  # no value yet: fine
    editor = token(tree, "ed@sciences", ["contact_editor"], component=SCI)
    contact = new_person(tree, editor, "budget-holder@example.org")
    request = pb.UpdateContactRequest(
        id=contact.id, etag=contact.etag, set={"sciences.budget": "12"}
    )
    tree.call("UpdateContact", request, editor)
    error = tree.fails("DefineAttribute", define(pb.FIELD_TYPE_TEXT), admin)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    request = pb.DefineAttributeRequest(
        attribute=pb.AttributeDefinition(component_id="nowhere", key="x", type=pb.FIELD_TYPE_TEXT)
    )
    error = tree.fails("DefineAttribute", request, admin)
    assert error.code() == grpc.StatusCode.NOT_FOUND  # like any other unknown resource


# --- Policies -------------------------------------------------------------------------------


def test_a_policy_change_is_kept_in_the_history(tree: ContactsServer) -> None:
    admin = tree.keys.admin()
    first = pb.FieldPolicy(
        field="phone",
        read=[pb.Grant(audience=pb.AUDIENCE_OWNER)],
        write=[pb.Grant(audience=pb.AUDIENCE_OWNER)],
    )
    tree.call("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=first), admin)
    second = pb.FieldPolicy(
        field="phone",
        read=[pb.Grant(audience=pb.AUDIENCE_COMPONENTS, components=[LAW], min_level="manager")],
        write=[pb.Grant(audience=pb.AUDIENCE_OWNER, service="alumni")],
    )
    assert tree.call("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=second), admin) == second
    reader = token(tree, "carol@droit", ["viewer"], component=LAW)
    listed = tree.call("ListFieldPolicies", pb.ListFieldPoliciesRequest(), reader).policies
    assert second in list(listed)
    page = tree.call(
        "ListFieldPolicyChanges",
        pb.ListFieldPolicyChangesRequest(field="phone", page_size=1),
        admin,
    )
    assert len(page.changes) == 1 and page.next_page_token
    newest = page.changes[0]
    assert (newest.before, newest.after, newest.changed_by) == (first, second, "admin@grouping")
    rest = tree.call(
        "ListFieldPolicyChanges",
        pb.ListFieldPolicyChangesRequest(field="phone", page_token=page.next_page_token),
        admin,
    )
    assert [c.after for c in rest.changes] == [first] and not rest.changes[0].HasField("before")
    error = tree.fails("ListFieldPolicyChanges", pb.ListFieldPolicyChangesRequest(), reader)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_bad_grants_are_refused_with_field_violations_and_nothing_is_written(
    tree: ContactsServer,
) -> None:
    before = snapshot(tree)
    policy = pb.FieldPolicy(
        field="nowhere.thing",
        read=[
            pb.Grant(),  # no audience
            pb.Grant(audience=pb.AUDIENCE_COMPONENTS, components=["atlantis"]),
            pb.Grant(audience=pb.AUDIENCE_MEMBERS, service="ghosts", min_level="emperor"),
        ],
        write=[pb.Grant(audience=pb.AUDIENCE_COMPONENTS)],
    )
    error = tree.fails("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=policy), tree.keys.admin())
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(field_violations(error)) == {
        "policy.field",
        "policy.read[0].audience",
        "policy.read[1].components",
        "policy.read[2].service",
        "policy.read[2].min_level",
        "policy.write[0].components",
    }
    assert snapshot(tree) == before


def test_display_name_write_grants_are_ignored(tree: ContactsServer) -> None:
    policy = pb.FieldPolicy(
        field="display_name",
        read=[pb.Grant(audience=pb.AUDIENCE_GROUPING)],
        write=[pb.Grant(audience=pb.AUDIENCE_GROUPING)],
    )
    saved = tree.call("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=policy), tree.keys.admin())
    assert list(saved.write) == [] and len(saved.read) == 1


# --- Every RPC needs its role --------------------------------------------------------------


def lacking(server: ContactsServer, needed: frozenset[Role]) -> str:
    """A token acting for a known component with every person role but those `needed`."""
    roles = [r.value for r in Role if r not in needed and r is not Role.SERVICE]
    return token(server, "nobody@sciences", roles, component=SCI)


def test_every_rpc_declares_its_role_in_the_shared_table() -> None:
    undeclared = [
        m.name for m in SERVICE.methods if f"/{SERVICE.full_name}/{m.name}" not in RPC_ROLES
    ]
    assert undeclared == []


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
def test_a_token_without_the_role_an_rpc_needs_is_refused_and_nothing_is_written(
    tree: ContactsServer, method: str
) -> None:
    needed = RPC_ROLES.get(f"/{SERVICE.full_name}/{method}")
    assert needed is not None, f"{method} declares no role"
    if not needed:
        pytest.skip("any signed-in caller may call it")
    descriptor = SERVICE.methods_by_name[method]
    request = message_factory.GetMessageClass(descriptor.input_type)()
    before = snapshot(tree)
    error = tree.fails(method, request, lacking(tree, needed))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert "role" in error.details()
    assert snapshot(tree) == before


# --- A second replica on the same database --------------------------------------------------


@pytest.fixture(scope="module")
def replica(
    tree: ContactsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ContactsServer]:
    """A second `crm serve contacts` process on the same PostgreSQL database."""
    folder = tmp_path_factory.mktemp("replica")
    target = f"127.0.0.1:{free_port()}"
    env = {
        **tree.keys.env("CONTACTS_"),
        "CONTACTS_LISTEN": target,
        "CONTACTS_DATABASE_URL": tree.engine.url.render_as_string(hide_password=False),
        "CRM_HOME": str(folder / "home"),
    }
    with service_process("contacts", env, folder / "logs"):
        wait_grpc_healthy(target)
        channel = grpc.insecure_channel(target)
        try:
            yield ContactsServer(
                target,
                tree.keys,
                contacts_pb2_grpc.ContactsServiceStub(channel),
                channel,
                tree.engine,
                folder / "logs" / "contacts.log",
            )
        finally:
            channel.close()


def test_a_policy_change_takes_effect_on_the_next_read_in_another_process(
    tree: ContactsServer, replica: ContactsServer
) -> None:
    editor = token(tree, "ed@sciences", ["contact_editor"], component=SCI)
    contact = new_person(tree, editor, "shared-later@example.org")
    law_editor = token(tree, "lea@droit", ["contact_editor"], component=LAW)
    joined = tree.call(
        "CreateContact",
        pb.CreateContactRequest(
            kind=pb.CONTACT_KIND_PERSON, fields={"email": "shared-later@example.org"}
        ),
        law_editor,
    )
    assert joined.joined_existing
    seen = replica.call("GetContact", pb.GetContactRequest(id=contact.id), law_editor)
    assert "first_name" not in seen.fields  # sciences' value: its owner's alone
    policy = pb.FieldPolicy(
        field="first_name",
        read=[pb.Grant(audience=pb.AUDIENCE_MEMBERS)],
        write=[pb.Grant(audience=pb.AUDIENCE_OWNER)],
    )
    tree.call("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=policy), tree.keys.admin())
    seen = replica.call("GetContact", pb.GetContactRequest(id=contact.id), law_editor)
    assert seen.fields["first_name"].value == "Marie"
    assert seen.fields["first_name"].owner_component == SCI
    # And back, changed through the replica, read through the first process.
    policy.read[0].audience = pb.AUDIENCE_OWNER
    replica.call("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=policy), tree.keys.admin())
    seen = tree.call("GetContact", pb.GetContactRequest(id=contact.id), law_editor)
    assert "first_name" not in seen.fields


def test_a_removed_persons_roles_stop_working_at_once_in_another_process(
    tree: ContactsServer, replica: ContactsServer
) -> None:
    # The replica keeps the tree in memory: it must drop it at the next call after a change.
    admin, subject = tree.keys.admin(), "fay@sciences"
    bare = token(tree, subject, [], component=SCI)  # every role comes from the tree

    def create(email: str) -> pb.CreateContactRequest:
        return pb.CreateContactRequest(kind=pb.CONTACT_KIND_PERSON, fields={"email": email})

    person = pb.Person(subject=subject, component_id=SCI, roles=["contact_editor"])
    tree.call("PutPerson", pb.PutPersonRequest(person=person), admin)
    replica.call("CreateContact", create("fay-1@example.org"), bare)  # the replica's tree is warm
    tree.call("RemovePerson", pb.RemovePersonRequest(subject=subject), admin)
    refused = replica.fails("CreateContact", create("fay-2@example.org"), bare)
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    # Placed again through the replica: the first process sees it at its next call too.
    assert tree.fails("CreateContact", create("fay-2@example.org"), bare).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    replica.call("PutPerson", pb.PutPersonRequest(person=person), admin)
    tree.call("CreateContact", create("fay-2@example.org"), bare)
    tree.call("RemovePerson", pb.RemovePersonRequest(subject=subject), admin)


def test_every_write_to_the_tree_or_the_policies_counts_a_change(tree: ContactsServer) -> None:
    # Replicas reuse their tree and rules while this counter stays put: a write that
    # did not bump it would leave every replica on a stale tree. Triggers count them all.
    admin = tree.keys.admin()
    policy = pb.FieldPolicy(
        field="phone",
        read=[pb.Grant(audience=pb.AUDIENCE_OWNER)],
        write=[pb.Grant(audience=pb.AUDIENCE_OWNER)],
    )
    person = pb.Person(subject="gus@droit", component_id=LAW, roles=["viewer"])
    writes = [
        ("CreateComponent", pb.CreateComponentRequest(id="medecine", name="Médecine")),
        ("CreateService", pb.CreateServiceRequest(component_id=LAW, id="stages", name="Stages")),
        ("SetLevels", pb.SetLevelsRequest(levels=["agent", "manager", "director", "dean"])),
        ("PutPerson", pb.PutPersonRequest(person=person)),
        ("RemovePerson", pb.RemovePersonRequest(subject="gus@droit")),
        ("SetFieldPolicy", pb.SetFieldPolicyRequest(policy=policy)),
    ]
    for method, request in writes:
        before = version(tree)
        tree.call(method, request, admin)
        assert version(tree) > before, method
    before = version(tree)
    with tree.engine.begin() as connection:  # an operator's SQL, not the service
        connection.execute(text("UPDATE people SET roles = '[]' WHERE subject = 'nobody'"))
    assert version(tree) > before


def version(server: ContactsServer) -> int:
    return int(server.sql("SELECT version FROM organisation_version")[0][0])
