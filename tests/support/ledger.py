"""Rows of the campaigns ledger written straight to its database, for tests that need a
history (the pressure dashboard, the monthly report) faster than sending it would take."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.campaigns.models import Campaign


def done_campaign(
    session: Session, component: str, purpose: str, created_at: datetime, name: str = ""
) -> str:
    """A finished campaign of `component` for `purpose`; its id."""
    campaign_id = str(uuid.uuid4())
    session.execute(
        insert(Campaign).values(
            id=campaign_id,
            name=name or f"{component} {purpose}",
            owner_component=component,
            purpose=purpose,
            subject_template="s",
            body_template="b",
            audience_kind="contact_ids",
            audience_ids=[],
            status="done",
            created_by="manager",
            created_at=created_at,
        )
    )
    return campaign_id


def sent_row(campaign_id: str, contact_id: str, at: datetime) -> dict[str, Any]:
    """A `deliveries` row: one marketing mail of the campaign sent to the contact at `at`."""
    return {
        "campaign_id": campaign_id,
        "contact_id": contact_id,
        "message_class": "marketing",
        "outcome": "sent",
        "sent_at": at,
        "send_started_at": at,
        "decided_at": at,
        "rule": "sent",
    }
