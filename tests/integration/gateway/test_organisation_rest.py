"""The organisation over REST and `crm org`, and tokens checked against the tree everywhere.

Real processes: contacts, consent, campaigns and the gateway on fresh PostgreSQL
databases. A token naming what the tree does not know is refused at the
gateway and by consent and campaigns over gRPC; every route and every RPC of
consent and campaigns is refused without the role it declares.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory

from meshkit.access import RPC_ROLES
from meshkit.roles import Role
from protos.crm.campaigns.v1 import campaigns_pb2, campaigns_pb2_grpc
from protos.crm.consent.v1 import consent_pb2, consent_pb2_grpc
from services.gateway.api import ANY_ROLE, Access
from services.gateway.app import AREAS
from tests.integration.gateway.harness import refuses_bad_pages, walk
from tests.support.mesh import Api
from tests.support.processes import free_port, service_process, wait_grpc_healthy, wait_http_healthy
from tests.support.stores import REDIS_URL, fresh_postgres, redis_prefix
from tests.support.tokens import TestKeys

ROOT = Path(__file__).resolve().parents[3]
SCI = "sciences"
SECRET = "organisation-tests-unsubscribe-secret"


@dataclass
class Mesh:
    api: Api
    keys: TestKeys
    targets: dict[str, str]
    base: str

    def token(self, subject: str, roles: list[str], **claims: str) -> str:
        return self.keys.issuer.mint(subject, roles=roles, **claims)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("org-mesh")
    keys = TestKeys(folder / "keys")
    ports = {name: free_port() for name in ("contacts", "consent", "campaigns", "gateway")}
    targets = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    home = {"CRM_HOME": str(folder / "home")}
    with ExitStack() as stack:
        for name in ("contacts", "consent", "campaigns"):
            prefix = f"{name.upper()}_"
            env = {
                **home,
                **keys.env(prefix),
                f"{prefix}LISTEN": targets[name],
                f"{prefix}DATABASE_URL": stack.enter_context(fresh_postgres(f"org_{name}")),
                f"{prefix}CONTACTS_TARGET": targets["contacts"],
            }
            if name == "campaigns":
                env |= {
                    "CAMPAIGNS_CONSENT_TARGET": targets["consent"],
                    "CAMPAIGNS_REDIS_URL": REDIS_URL,
                    "CAMPAIGNS_REDIS_KEY_PREFIX": redis_prefix(),
                    "CAMPAIGNS_SMTP_PORT": str(free_port()),
                    "CAMPAIGNS_UNSUBSCRIBE_SECRET": SECRET,
                }
            stack.enter_context(service_process(name, env, folder / "logs"))
        env = {
            **home,
            **keys.env("GATEWAY_"),
            "GATEWAY_LISTEN": targets["gateway"],
            "GATEWAY_CONTACTS_TARGET": targets["contacts"],
            "GATEWAY_CONSENT_TARGET": targets["consent"],
            "GATEWAY_CAMPAIGNS_TARGET": targets["campaigns"],
            "GATEWAY_UNSUBSCRIBE_SECRET": SECRET,
        }
        stack.enter_context(service_process("gateway", env, folder / "logs"))
        for name in ("contacts", "consent", "campaigns"):
            wait_grpc_healthy(targets[name], timeout=60)
        base = f"http://{targets['gateway']}"
        wait_http_healthy(f"{base}/healthz", timeout=60)
        running = Mesh(Api(base), keys, targets, base)
        reply = running.api.call(
            "POST", "/v1/components", keys.admin(), {"id": SCI, "name": "Sciences"}
        )
        assert reply.status == 201, reply.text
        yield running


def wait_for(check: Any, timeout: float = 20.0) -> Any:
    """Polls `check` until it returns something truthy (bounded; the tree is cached a few s)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


# --- Tokens against the tree ----------------------------------------------------------------


@pytest.mark.parametrize(
    "claims",
    [{"component": "atlantis"}, {"component": SCI, "service": "ghosts"}, {"level": "emperor"}],
    ids=["component", "service", "level"],
)
def test_the_gateway_refuses_a_token_naming_what_the_tree_does_not_know(
    mesh: Mesh, claims: dict[str, str]
) -> None:
    caller = mesh.token("mallory@x", ["viewer", "contact_editor"], **claims)
    reply = mesh.api.call("GET", "/v1/components", caller)
    assert reply.status == 403, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert "organisation does not know" in reply.json["detail"]
    assert "mallory" not in reply.text and all(v not in reply.text for v in claims.values())
    # Refused by the gateway itself, before the body is even read (a 400 otherwise).
    reply = mesh.api.call("POST", "/v1/contacts", caller, {"not": "a contact"})
    assert reply.status == 403, reply.text


def test_consent_and_campaigns_refuse_a_token_naming_an_unknown_component(mesh: Mesh) -> None:
    caller = mesh.token("mallory@x", ["viewer", "campaign_manager"], component="atlantis")
    metadata = [("authorization", f"Bearer {caller}")]
    with grpc.insecure_channel(mesh.targets["consent"]) as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetHistory(consent_pb2.GetHistoryRequest(), metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "organisation does not know" in caught.value.details()
    with grpc.insecure_channel(mesh.targets["campaigns"]) as channel:
        stub = campaigns_pb2_grpc.CampaignsServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListCampaigns(campaigns_pb2.ListCampaignsRequest(), metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_component_registered_after_the_cache_was_filled_is_known_at_once(mesh: Mesh) -> None:
    caller = mesh.token("newcomer@chimie", ["viewer"], component="chimie")
    assert mesh.api.call("GET", "/v1/components", caller).status == 403
    reply = mesh.api.call(
        "POST", "/v1/components", mesh.keys.admin(), {"id": "chimie", "name": "C"}
    )
    assert reply.status == 201
    assert mesh.api.call("GET", "/v1/components", caller).status == 200  # refreshed, not refused


def test_the_tree_gives_the_roles_at_the_gateway_and_in_campaigns(mesh: Mesh) -> None:
    subject = "pat@sciences"
    bare = mesh.token(subject, [], component=SCI)
    assert mesh.api.call("GET", "/v1/field-policies/changes", bare).status == 403
    reply = mesh.api.call(
        "PUT", f"/v1/people/{subject}", mesh.keys.admin(),
        {"component_id": SCI, "roles": ["admin", "campaign_manager"]},
    )  # fmt: skip
    assert reply.status == 200, reply.text
    assert wait_for(
        lambda: mesh.api.call("GET", "/v1/field-policies/changes", bare).status == 200
    ), "the tree's admin role was never applied at the gateway"
    draft = {
        "name": "Tree roles",
        "purpose": "newsletter",
        "subject_template": "Bonjour",
        "body_template": "Bonjour",
        "audience": {"all_of_component": True},
    }
    assert wait_for(lambda: mesh.api.call("POST", "/v1/campaigns", bare, draft).status == 201)
    assert mesh.api.call("DELETE", f"/v1/people/{subject}", mesh.keys.admin()).status == 204


# --- Every route and every RPC needs its role -------------------------------------------------


OPERATIONS = [op for area in AREAS for op in area.routes.operations]


def lacking(mesh: Mesh, needed: frozenset[Role]) -> str:
    roles = [r.value for r in Role if r not in needed and r is not Role.SERVICE]
    return mesh.token("nobody@sciences", roles, component=SCI)


def state(mesh: Mesh) -> list[Any]:
    admin = mesh.keys.admin()
    paths = ["/v1/organisation", "/v1/field-policies", "/v1/catalogue", "/v1/components"]
    seen = [mesh.api.call("GET", path, admin).json for path in paths]
    manager = mesh.token("reader@sciences", ["campaign_manager"], component=SCI)
    return [*seen, mesh.api.call("GET", "/v1/campaigns", manager).json]


def test_every_route_declares_its_role() -> None:
    assert OPERATIONS
    for operation in OPERATIONS:
        assert isinstance(operation.role, Role) or operation.role is ANY_ROLE, operation.endpoint


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.endpoint)
def test_a_token_without_the_role_a_route_needs_is_refused_and_nothing_is_written(
    mesh: Mesh, operation: Any
) -> None:
    if operation.access is Access.PUBLIC or not isinstance(operation.role, Role):
        pytest.skip("no role needed")
    path = re.sub(r"<[^>]+>", "x-1", operation.rule)
    before = state(mesh)
    reply = mesh.api.call(operation.method, path, lacking(mesh, frozenset({operation.role})), {})
    assert reply.status == 403, reply.text
    assert operation.role.value in reply.json["detail"]
    assert state(mesh) == before


RPCS = [
    (service, method.name)
    for module in (consent_pb2, campaigns_pb2)
    for service in module.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]


@pytest.mark.parametrize("service, method", RPCS, ids=lambda v: getattr(v, "name", v))
def test_a_token_without_the_role_an_rpc_needs_is_refused_and_nothing_is_written(
    mesh: Mesh, service: Any, method: str
) -> None:
    needed = RPC_ROLES.get(f"/{service.full_name}/{method}")
    assert needed is not None, f"{service.name}/{method} declares no role"
    if not needed:
        pytest.skip("any signed-in caller")
    target = mesh.targets["consent" if "consent" in service.full_name else "campaigns"]
    descriptor = service.methods_by_name[method]
    request = message_factory.GetMessageClass(descriptor.input_type)()
    before = state(mesh)
    metadata = [("authorization", f"Bearer {lacking(mesh, needed)}")]
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            f"/{service.full_name}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request, metadata=metadata, timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert state(mesh) == before


# --- REST and crm org -------------------------------------------------------------------------


def crm_org(mesh: Mesh, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"PYTHONPATH": str(ROOT), "CRM_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "org", *args, "--gateway", mesh.base],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_crm_org_builds_the_tree_and_sets_policies(mesh: Mesh, tmp_path: Path) -> None:
    admin = mesh.keys.admin()

    def ok(*args: str) -> Any:
        result = crm_org(mesh, admin, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None

    ok("components", "add", "droit", "Faculté de droit")
    assert "droit" in [c["id"] for c in ok("components", "list")["components"]]
    ok("services", "add", "droit", "alumni", "Alumni")
    ok("levels", "set", "agent", "manager", "director")
    person = ok("people", "put", "zoe@droit", "--component", "droit", "--level", "manager",
                "--role", "viewer")  # fmt: skip
    assert person == {"subject": "zoe@droit", "component_id": "droit", "level": "manager",
                      "roles": ["viewer"]}  # fmt: skip
    tree = ok("show")
    assert tree["levels"] == ["agent", "manager", "director"]
    assert "zoe@droit" in [p["subject"] for p in tree["people"]]
    ok("people", "remove", "zoe@droit")
    ok("attributes", "define", "droit", "promo", "--type", "enum", "--choice", "2024",
       "--choice", "2025", "--label-fr", "Promotion")  # fmt: skip
    assert "droit.promo" in [f["field"] for f in ok("catalogue")["fields"]]
    ok("policies", "set", "droit.promo", "--read", "members,min_level=manager",
       "--read", "components=sciences", "--write", "owner,service=alumni")  # fmt: skip
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({"read": [{"audience": "grouping"}], "write": []}))
    ok("policies", "set", "droit.promo", "--file", str(policy_file))
    listed = {p["field"]: p for p in ok("policies", "list")["policies"]}
    assert listed["droit.promo"]["read"] == [{"audience": "grouping"}]
    history = ok("policies", "history", "--field", "droit.promo")["changes"]
    assert len(history) == 2 and history[0]["before"]["read"][0]["audience"] == "members"


def test_crm_org_reports_the_problem_and_exits_1(mesh: Mesh) -> None:
    result = crm_org(
        mesh, mesh.keys.admin(), "policies", "set", "phone", "--read", "components=atlantis"
    )
    assert result.returncode == 1
    assert "400" in result.stderr and "policy.read[0].components" in result.stderr
    assert "Traceback" not in result.stderr
    viewer = mesh.token("v@sciences", ["viewer"], component=SCI)
    result = crm_org(mesh, viewer, "levels", "set", "a1")
    assert result.returncode == 1 and "403" in result.stderr and "admin" in result.stderr
    result = crm_org(mesh, "", "components", "list")
    assert result.returncode == 1 and "CRM_TOKEN" in result.stderr


@pytest.mark.parametrize(
    "words",
    [
        ["--help"],
        ["components", "add", "--help"],
        ["components", "list", "--help"],
        ["services", "add", "--help"],
        ["levels", "set", "--help"],
        ["people", "put", "--help"],
        ["people", "remove", "--help"],
        ["attributes", "define", "--help"],
        ["policies", "set", "--help"],
        ["policies", "list", "--help"],
        ["policies", "history", "--help"],
    ],
)
def test_every_crm_org_command_has_help(words: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "org", *words],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "usage: crm org" in result.stdout


def test_catalogue_lists_are_paged_and_link_to_their_next_page(mesh: Mesh) -> None:
    """Catalogue, field policies, purposes, notices, basis rules: every page size gives the same
    items in the same order, and each list refuses a token of another."""
    admin, api = mesh.keys.admin(), mesh.api
    for field in ("first_name", "last_name", "phone"):
        body = {"read": [{"audience": "owner"}], "write": [{"audience": "owner"}]}
        assert api.call("PUT", f"/v1/field-policies/{field}", admin, body).status == 200
    for text in ("Version un.", "Version deux.", "Version trois."):
        body = {"language": "fr", "text": text}
        reply = api.call("POST", "/v1/consent/purposes/newsletter/notices", admin, body)
        assert reply.status == 201, reply.text
    lists: dict[str, tuple[str, Any]] = {
        "/v1/catalogue": ("fields", None),  # core fields in their own order, then attributes
        "/v1/field-policies": ("policies", lambda p: p["field"]),
        "/v1/consent/purposes?include_inactive=true": ("purposes", lambda p: p["key"]),
        "/v1/consent/purposes/newsletter/notices": (
            "notices",
            lambda n: (n["language"], n["version"]),
        ),
        "/v1/consent/basis-rules": (
            "rules",
            lambda r: (r["purpose"], r["channel"], r["contact_kind"]),
        ),
    }
    tokens = {}
    for path, (key, order) in lists.items():
        everything = walk(api, path, admin, key, 1000)
        assert len(everything) >= 3, path
        if order is not None:
            assert [order(i) for i in everything] == sorted(order(i) for i in everything), path
        for size in (1, 2):
            assert walk(api, path, admin, key, size) == everything, (path, size)
        separator = "&" if "?" in path else "?"
        tokens[path] = api.call("GET", f"{path}{separator}page_size=1", admin).json[
            "next_page_token"
        ]
    paths = list(lists)
    for path, other in zip(paths, paths[1:] + paths[:1], strict=True):
        refuses_bad_pages(api, path, admin, tokens[other])
