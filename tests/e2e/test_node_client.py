"""An independent client: Node.js (@grpc/grpc-js, @grpc/proto-loader) against the real mesh.

The gRPC contracts must be usable from outside Python with nothing but protos/:
tests/interop/client.js loads them with proto-loader, checks health on contacts,
consent and campaigns, calls one read RPC on each with a bearer token (and
without, which must be refused), and asks server reflection in both protocols
(v1 and v1alpha, from the official .proto files). Its packages are pinned by
tests/interop/package-lock.json and installed with `npm ci` when missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import COMPONENT_A, World

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"
SERVICES = {
    "contacts": "crm.contacts.v1.ContactsService",
    "consent": "crm.consent.v1.ConsentService",
    "campaigns": "crm.campaigns.v1.CampaignsService",
}


def node_modules() -> Path:
    """tests/interop/node_modules as the lock file pins it, installed by `npm ci` when stale."""
    installed = INTEROP / "node_modules" / ".package-lock.json"  # npm writes it on install
    lock = INTEROP / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        npm = shutil.which("npm")
        assert npm, "node is installed but npm is not: install npm (it comes with Node.js)"
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=INTEROP,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return INTEROP / "node_modules"


@pytest.fixture(scope="module")
def node_view(world: World) -> dict[str, Any]:
    """What the Node.js client saw of the mesh, about a contact and a campaign made here."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js interop client cannot run (CI has it)")
    node_modules()
    contact = world.new_contact(world.a)
    world.grant(world.a, contact["id"])
    campaign = world.campaign(world.a, [contact["id"]], name="Interop Node.js")
    request = {
        "protos": str(ROOT),
        "token": world.a,
        "targets": {name: world.mesh.targets[name] for name in SERVICES},
        "reads": {"contact_id": contact["id"], "campaign_id": campaign["id"]},
    }
    result = subprocess.run(
        [node, str(INTEROP / "client.js")],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    view: dict[str, Any] = json.loads(result.stdout)
    view["made"] = {"contact": contact, "campaign": campaign}
    return view


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_health_answers_serving(node_view: dict[str, Any], name: str) -> None:
    assert node_view[name]["health"] == {"": "SERVING", SERVICES[name]: "SERVING"}


def test_contacts_reads_the_contact_the_test_created(node_view: dict[str, Any]) -> None:
    contact = node_view["made"]["contact"]
    reply = node_view["contacts"]["read"]["reply"]
    assert reply["id"] == contact["id"]
    assert reply["kind"] == "CONTACT_KIND_PERSON"
    assert reply["fields"]["email"] == {"value": contact["email"], "owner_component": COMPONENT_A}
    assert COMPONENT_A in reply["member_components"]


def test_consent_reads_the_grant_the_test_recorded(node_view: dict[str, Any]) -> None:
    events = node_view["consent"]["read"]["reply"]["events"]
    contact_id = node_view["made"]["contact"]["id"]
    assert [(e["contact_id"], e["purpose"], e["channel"], e["action"]) for e in events] == [
        (contact_id, "newsletter", "CHANNEL_EMAIL", "ACTION_GRANT")
    ]


def test_campaigns_reads_the_campaign_the_test_drafted(node_view: dict[str, Any]) -> None:
    reply = node_view["campaigns"]["read"]["reply"]
    campaign = node_view["made"]["campaign"]
    assert (reply["id"], reply["name"], reply["owner_component"]) == (
        campaign["id"],
        "Interop Node.js",
        COMPONENT_A,
    )
    assert reply["status"] == "CAMPAIGN_STATUS_DRAFT"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_read_without_token_is_refused(node_view: dict[str, Any], name: str) -> None:
    assert node_view[name]["read_without_token"] == {"error": "UNAUTHENTICATED"}


@pytest.mark.parametrize("protocol", ["v1", "v1alpha"])
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_reflection_lists_and_describes_in_both_protocols(
    node_view: dict[str, Any], name: str, protocol: str
) -> None:
    seen = node_view[name]["reflection"][protocol]
    assert {
        SERVICES[name],
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= set(seen["services"])
    short = SERVICES[name].rsplit(".", 1)[1]
    assert seen["file"]["package"] == SERVICES[name].rsplit(".", 1)[0]
    (described,) = [s for s in seen["file"]["services"] if s["name"] == short]
    read = {"contacts": "GetContact", "consent": "GetHistory", "campaigns": "GetCampaign"}[name]
    assert read in described["methods"]
