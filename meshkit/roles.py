"""The roles a token may carry, and what each one is for.

For now a principal's roles come from its token (`roles` claim); the
organisation tree will later derive them. Values are the words tokens carry.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """One role of a principal; a StrEnum, so `Role.ADMIN == "admin"`."""

    VIEWER = "viewer"  # reads what its component may see
    CONTACT_EDITOR = "contact_editor"  # writes contacts and consent of its component
    CAMPAIGN_MANAGER = "campaign_manager"  # creates, changes, schedules and sends campaigns
    DPO = "dpo"  # data-protection officer
    COMMUNICATION = "communication"  # the grouping's communication team: indicators, pressure
    ADMIN = "admin"  # administers the grouping (components)
    SERVICE = "service"  # a service of the mesh calling another one


def missing_role_message(role: Role) -> str:
    """What a refusal says: the role missing, never who asked nor what about."""
    return f"this operation needs the {role.value} role"
