"""The SQL of the consent service, one module per area; each function works inside the
caller's session, so a use case stays one transaction.

The rest of the service reads `repository.<name>`: this package re-exports every
public function of its modules.
"""

from __future__ import annotations

from services.consent.repository._sql import values_of
from services.consent.repository.catalogue import (
    add_purpose,
    notice,
    notices,
    publish_notice,
    purpose,
    purposes,
    put_rule,
    rules,
    save_purpose,
)
from services.consent.repository.events import (
    NewEvent,
    append,
    batch,
    by_repeat_key,
    confirmation_of,
    event,
    event_by_id,
    history,
    history_page,
    stream,
)
from services.consent.repository.outbox import (
    close_outbox,
    due_outbox,
    enqueue,
    lease_outbox,
    outbox_attempts,
    outbox_entries,
    outbox_pending_before,
    retry_outbox,
)
from services.consent.repository.privacy import (
    audit_privacy_request,
    claim_privacy_request,
    due_privacy_requests,
    erase_consent_events,
    insert_privacy_request,
    privacy_export_parts,
    privacy_request,
    privacy_requests,
    record_step_attempt,
    scrub_privacy_requests,
    update_privacy_request,
)
from services.consent.repository.retention import (
    contacts_with_events,
    revalidation_of,
)
from services.consent.repository.suppression import (
    blocked,
    lift,
    suppress,
)

__all__ = [
    "values_of",
    "NewEvent",
    "add_purpose",
    "append",
    "audit_privacy_request",
    "batch",
    "blocked",
    "by_repeat_key",
    "claim_privacy_request",
    "close_outbox",
    "confirmation_of",
    "contacts_with_events",
    "due_outbox",
    "due_privacy_requests",
    "enqueue",
    "erase_consent_events",
    "event",
    "event_by_id",
    "history",
    "history_page",
    "insert_privacy_request",
    "lease_outbox",
    "lift",
    "notice",
    "notices",
    "outbox_attempts",
    "outbox_entries",
    "outbox_pending_before",
    "privacy_export_parts",
    "privacy_request",
    "privacy_requests",
    "publish_notice",
    "purpose",
    "purposes",
    "put_rule",
    "record_step_attempt",
    "retry_outbox",
    "revalidation_of",
    "rules",
    "save_purpose",
    "scrub_privacy_requests",
    "stream",
    "suppress",
    "update_privacy_request",
]
