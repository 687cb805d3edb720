"""Data-protection results to proto messages (merge, sensitive reads, export)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.contacts.mapping import _KINDS_OUT, contact_message
from services.contacts.privacy import Export, MergeOutcome, ReadsPage


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def merge_message(outcome: MergeOutcome) -> pb.MergeContactsResponse:
    """The conflicts (field and owner only, never a value), or the merged survivor."""
    message = pb.MergeContactsResponse(
        conflicts=[pb.MergeConflict(field=f, owner_component=o) for f, o in outcome.conflicts]
    )
    if outcome.survivor is not None:
        message.survivor.CopyFrom(contact_message(outcome.survivor))
    return message


def reads_message(page: ReadsPage) -> pb.ListSensitiveReadsResponse:
    return pb.ListSensitiveReadsResponse(
        reads=[
            pb.SensitiveRead(
                subject=r.subject,
                component=r.component,
                contact_id=r.contact_id,
                field=r.field,
                route=r.route,
                read_at=rfc3339(r.read_at),
            )
            for r in page.reads
        ],
        next_page_token=page.next_page_token,
    )


def export_message(export: Export) -> pb.ContactExport:
    return pb.ContactExport(
        id=export.id,
        kind=_KINDS_OUT[export.kind],
        member_components=export.member_components,
        values=[
            pb.ExportedValue(
                field=v.field,
                owner_component=v.owner,
                value=v.value,
                updated_at=rfc3339(v.updated_at),
                updated_by=v.updated_by,
            )
            for v in export.values
        ],
        changes=[
            pb.ContactChange(
                action=c.action,
                subject=c.subject,
                component=c.component or "",
                fields=c.fields,
                at=rfc3339(c.at),
                detail_json=json.dumps(c.detail, sort_keys=True) if c.detail else "",
            )
            for c in export.changes
        ],
        merged_ids=export.merged_ids,
    )
