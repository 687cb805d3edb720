"""`crm` as an administrator uses it, against the shared mesh's real gateway.

The import/export round trip runs `crm` as processes (progress on stderr, CSV
out, the file imported back unchanged); the other areas run through `crm`'s own
parser in this process, which is cheaper and goes over the same HTTP client.
A component of its own keeps the export to the contacts this test made.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.admin.contacts import summarise
from services.cli import parser
from tests.e2e.conftest import World

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def crm(world: World, token: str, *words: str) -> tuple[int, str, str]:
    """`crm WORDS` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    args = parser().parse_args([*words, "--gateway", world.api.base, "--token", token])
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        args.run(args)
        code = 0
    except SystemExit as leaving:
        code = int(leaving.code or 0)
    finally:
        sys.stdout, sys.stderr = saved
    return code, out.getvalue(), err.getvalue()


def ok(world: World, token: str, *words: str) -> Any:
    code, out, err = crm(world, token, *words)
    assert code == 0, err
    return json.loads(out) if out.strip() and out.lstrip()[0] in "[{" else out


def crm_process(world: World, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env |= {"PYTHONPATH": str(ROOT), "CRM_TOKEN": token, "CRM_GATEWAY": world.api.base}
    command = [sys.executable, "-m", "services.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def nonzero(totals: dict[str, int]) -> dict[str, int]:
    return {outcome: count for outcome, count in totals.items() if count}


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_then_export_round_trips_through_the_gateway(world: World, tmp_path: Path) -> None:
    component = f"cli-{uuid.uuid4().hex[:8]}"
    admin = world.admin
    ok(world, admin, "org", "components", "add", component, "CLI round trip")
    ok(world, admin, "org", "attributes", "define", component, "promo", "--type", "text")
    editor = world.mesh.keys.issuer.mint(
        f"editor@{component}", component=component, roles=["contact_editor"]
    )
    tag = uuid.uuid4().hex[:8]
    written = [
        {"email": f"ada.{tag}@example.org", "first_name": "Ada", f"{component}.promo": "2024"},
        {"email": f"alan.{tag}@example.org", "first_name": "Alan", f"{component}.promo": ""},
        {"email": f"grace.{tag}@example.org", "first_name": "Grâce", f"{component}.promo": "2025"},
    ]
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(written[0]))
        writer.writeheader()
        writer.writerows(written)

    imported = crm_process(
        world, editor, "import", "contacts", str(source), "--component", component
    )
    assert imported.returncode == 0, imported.stderr
    assert nonzero(json.loads(imported.stdout)["totals"]) == {"created": 3}
    assert summarise(tmp_path / "in.report.csv") == {"created": 3}
    assert imported.stderr.splitlines()[0].startswith("import [" + "#" * 30 + "] 100%")

    # Three contacts over pages of two: the export follows next_page_token.
    target = tmp_path / "out.csv"
    exported = crm_process(
        world, editor, "export", "contacts", "--kind", "person", "--for-import",
        "--page-size", "2", "--output", str(target),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == ""
    assert exported.stderr.splitlines() == [
        "export 3 rows",
        f"exported 3 contacts, 3 columns to {target}",
    ]
    back = rows(target.read_text(encoding="utf-8"))
    assert sorted(back, key=lambda r: r["email"]) == written
    again = ok(
        world, editor, "import", "contacts", str(target), "--component", component,
        "--import-id", f"again-{tag}",
    )  # fmt: skip
    assert nonzero(again["totals"]) == {"unchanged": 3}

    # The whole record (to stdout) carries ids, kind and membership too; another
    # component's token sees none of these contacts.
    listed = rows(ok(world, editor, "export", "contacts"))
    assert len(listed) == 3 and {r["kind"] for r in listed} == {"person"}
    assert {r["member_components"] for r in listed} == {component}
    assert list(listed[0])[:3] == ["id", "kind", "member_components"]
    other = ok(world, world.b, "export", "contacts", "--filter", f"email={written[0]['email']}")
    assert rows(other) == []


def test_consent_catalogue_org_and_pressure_reads(world: World, tmp_path: Path) -> None:
    admin = world.admin
    key = f"cli_{uuid.uuid4().hex[:8]}"
    ok(world, admin, "purposes", "add", key, "--label-fr", "Essai", "--label-en", "Trial")
    assert key in [p["key"] for p in ok(world, admin, "purposes", "list")["purposes"]]
    ok(world, admin, "purposes", "update", key, "--label-en", "Trial run")
    notice = tmp_path / "notice.txt"
    notice.write_text("Vous recevrez nos essais.", encoding="utf-8")
    ok(world, admin, "notices", "publish", key, "--language", "fr", "--file", str(notice))
    notices = ok(world, admin, "notices", "list", key)["notices"]
    assert [n["text"] for n in notices] == ["Vous recevrez nos essais."]
    ok(world, admin, "basis-rules", "set", key, "--channel", "email", "--contact-kind",
       "business", "--basis", "legitimate_interest")  # fmt: skip
    table = ok(world, admin, "basis-rules", "list", "--format", "csv")
    assert f"{key},email,business,legitimate_interest" in table
    components = ok(world, admin, "org", "components", "list", "--format", "table")
    assert "sciences" in components and "medecine" in components
    assert "levels" in ok(world, admin, "org", "show")
    assert "email" in [f["field"] for f in ok(world, admin, "org", "catalogue")["fields"]]
    assert "policies" in ok(world, admin, "org", "policies", "list")
    assert "changes" in ok(world, admin, "org", "policies", "history")
    shown = ok(world, world.a, "pressure", "show")
    history = ok(world, world.a, "pressure", "history", "--page-size", "1")["versions"]
    # Every version written, newest first, one page at a time (version 0 is the default).
    assert [v["version"] for v in history] == list(range(shown["version"], 0, -1))


def test_campaign_status_and_lifecycle(world: World) -> None:
    contact = world.new_contact(world.a)
    campaign = world.campaign(world.a, [contact["id"]], name=f"cli {uuid.uuid4().hex[:6]}")
    listed = ok(world, world.a, "campaigns", "list", "--status", "draft")["campaigns"]
    assert campaign["id"] in [c["id"] for c in listed]
    assert all(c["status"] == "draft" for c in listed)
    scheduled = ok(world, world.a, "campaigns", "schedule", campaign["id"],
                   "--at", "2099-09-01T08:00:00Z")  # fmt: skip
    assert scheduled["status"] == "scheduled"
    shown = ok(world, world.a, "campaigns", "show", campaign["id"], "--format", "table")
    assert "status" in shown and "scheduled" in shown
    assert ok(world, world.a, "campaigns", "unschedule", campaign["id"])["status"] == "draft"
    # A draft cannot be paused: the gateway's 409 problem, on stderr, exit 1.
    code, out, err = crm(world, world.a, "campaigns", "pause", campaign["id"])
    assert code == 1 and out == ""
    assert err.startswith("crm campaigns: 409 ")
    assert ok(world, world.a, "campaigns", "cancel", campaign["id"])["status"] == "cancelled"
    code, _, err = crm(world, world.a, "campaigns", "resume", campaign["id"])
    assert code == 1 and "409" in err
    # Another component does not see it.
    code, _, err = crm(world, world.b, "campaigns", "show", campaign["id"])
    assert code == 1 and "404" in err
    deliveries = ok(world, world.a, "campaigns", "deliveries", campaign["id"])
    assert deliveries == {"deliveries": []}


def test_privacy_requests_filed_listed_and_shown_by_the_dpo(world: World) -> None:
    dpo = world.mesh.keys.issuer.mint("dpo@grouping", roles=["dpo"])
    contact = world.new_contact(world.a)
    opened = ok(world, dpo, "privacy", "file", "--kind", "access", "--contact", contact["id"])
    assert opened["kind"] == "access" and opened["contact_id"] == contact["id"]
    listed = ok(world, dpo, "privacy", "list", "--contact", contact["id"])["requests"]
    assert [r["id"] for r in listed] == [opened["id"]]
    assert ok(world, dpo, "privacy", "show", opened["id"])["id"] == opened["id"]
    code, out, err = crm(world, dpo, "privacy", "file", "--kind", "access", "--contact", "nope")
    assert code == 1 and out == ""
    first, *violations = err.splitlines()
    assert first.startswith("crm privacy: 400 ") and any("contact_id" in v for v in violations)
    code, _, err = crm(world, world.a, "privacy", "list")
    assert code == 1 and err.startswith("crm privacy: 403 ")
