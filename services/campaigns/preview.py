"""Preview (dry run) of a draft or scheduled campaign: who would be reached now, and why not.

The preview asks the very gate dispatch asks (gate.Gate.evaluate), in the
same batches, with `peek`: contacts, consent, the address, quiet periods and
every pressure rule answer as they would for a real send, but no slot is
reserved and nothing is written to the ledger. A preview made right before a
send therefore agrees with it on every recipient, as long as nothing changes
between the two.

The first page carries the counts per outcome over the whole audience (the
audience is evaluated batch by batch, never held whole with its answers), when the
audience is small enough to count within a call (CAMPAIGNS_PREVIEW_COUNT_MAX); a
larger one is counted in the background instead (reach.py), and the page says so;
each page lists its recipients with the rule that decided each one and only
what contacts let the owner component see of them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import FailedPrecondition, NotFound
from meshkit.identity import Principal
from meshkit.roles import Role
from services.campaigns.gate import Expected, Gate
from services.campaigns.ledger import CampaignInfo, info_of, survivors_of
from services.campaigns.lifecycle import CampaignStatus
from services.campaigns.models import Campaign
from services.campaigns.validation import check_campaign_id

PREVIEWABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
# Batches of contacts' largest ResolveRecipients call, a few asked at once: a preview
# waits on contacts, consent and Redis in turn, and they answer in parallel.
PREVIEW_BATCH = 1000
PREVIEW_THREADS = 4
DEFAULT_PAGE = 100
# The largest audience the first page counts while the caller waits (about a second per
# thousand recipients: a hundred thousand outlive any deadline).
PREVIEW_COUNT_MAX = 2000
MAX_PAGE = 1000
PREVIEW_LIST = "campaigns.preview"
WILL_SEND = "sent"  # the outcome a preview shows for a recipient that would be mailed now
# A campaign version's audience is read once for the pages and the reach count that follow:
# an edit is another version; a whole-component audience or a merge shows after this delay.
AUDIENCE_KEEP_SECONDS = 120.0
AUDIENCE_KEPT = 4  # campaigns kept at once, per process (100,000 ids: about 10 MB)


@dataclass(frozen=True)
class PreviewRow:
    contact_id: str
    outcome: str  # "sent" (would be mailed now) or the outcome code that stops it
    rule: str
    deferred_until: datetime | None
    email: str  # only when contacts lets the owner component see it
    merge_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PreviewPage:
    audience: int  # recipients after merged records are folded into one person
    counts: dict[str, int]  # on the first page only (empty on the next ones)
    rows: list[PreviewRow]
    next_page_token: str
    counts_deferred: bool = False  # the first page of an audience too large to count at once


Audience = Callable[[Campaign], Sequence[str]]


class Previews:
    """Dry runs of campaigns, for the managers of their owner component."""

    def __init__(
        self,
        db: Database,
        gate: Gate,
        audience: Audience,
        batch_size: int = PREVIEW_BATCH,
        keep_seconds: float = AUDIENCE_KEEP_SECONDS,
        count_max: int = PREVIEW_COUNT_MAX,
    ):
        self.count_max = count_max
        self._db = db
        self._gate = gate
        self._audience = audience
        self._batch = batch_size
        self._keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}

    def preview(
        self,
        principal: Principal,
        campaign_id: str,
        page_size: int,
        page_token: str,
        *,
        skip_counts: bool = False,
    ) -> PreviewPage:
        """One page of the dry run; its first page also counts every outcome, unless skipped
        or the audience is larger than `count_max` (then `counts_deferred`: reach.py counts
        them in the background)."""
        size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
        campaign = self.previewable(principal, campaign_id)
        info = info_of(campaign)
        after = page_tokens.after_str(page_token, PREVIEW_LIST, campaign_id)
        # In contact id order, resumed after the last id served (keyset, not an offset):
        # a recipient who joins the audience between two pages does not shift the others.
        people = self.people(campaign)
        counts: dict[str, int] = {}
        deferred = after is None and not skip_counts and len(people) > self.count_max
        if after is None and not skip_counts and not deferred:
            counts = dict(Counter(self._all(info, people)))
        start = bisect_right(people, after) if after is not None else 0
        page = people[start : start + size]
        rows = [_row(e) for e in self._gate.evaluate(info, page, peek=True)] if page else []
        more = start + size < len(people)
        token = page_tokens.encode(PREVIEW_LIST, (page[-1],), campaign_id) if more else ""
        return PreviewPage(len(people), counts, rows, token, deferred)

    def previewable(self, principal: Principal, campaign_id: str) -> Campaign:
        """The campaign, when the caller manages its owner component and it may be previewed."""
        component = principal.require_component()
        principal.require_role(Role.CAMPAIGN_MANAGER)
        check_campaign_id("id", campaign_id)
        with self._db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.owner_component != component:
                raise NotFound("campaign not found")
            if campaign.status not in PREVIEWABLE:
                raise FailedPrecondition(
                    f"the campaign is {campaign.status}; only a draft or scheduled one"
                )
            session.expunge(campaign)
            return campaign

    def people(self, campaign: Campaign) -> list[str]:
        """The campaign's recipients in id order, merged records folded into one person.

        Kept a little while per campaign version: reading a 100,000-person audience from
        contacts and folding its merges takes seconds, and every page of the preview, as
        the reach count, needs it whole (a copy: callers may change theirs).
        """
        key = (campaign.id, revision_of(campaign))
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] > now:
                return list(kept[1])
        ids = list(self._audience(campaign))
        with self._db.transaction() as session:
            people = tuple(sorted(dict.fromkeys(survivors_of(session, ids))))
        with self._lock:
            self._kept = {k: v for k, v in self._kept.items() if v[0] > now}
            while len(self._kept) >= AUDIENCE_KEPT:
                del self._kept[next(iter(self._kept))]  # the oldest goes first
            self._kept[key] = (now + self._keep_seconds, people)
        return list(people)

    def _all(self, info: CampaignInfo, people: list[str]) -> Iterator[str]:
        """The outcome code of every recipient, a few batches asked at once."""
        for answered in self.batches(info, people):
            yield from answered

    def batches(self, info: CampaignInfo, people: list[str]) -> Iterator[list[str]]:
        """The outcome codes of the recipients, batch by batch in order, a few asked at once.

        Peek only: the gate reserves no slot and writes nothing.
        """
        batches = (people[i : i + self._batch] for i in range(0, len(people), self._batch))

        def codes(batch: list[str]) -> list[str]:
            return [_code(e) for e in self._gate.evaluate(info, batch, peek=True)]

        with ThreadPoolExecutor(PREVIEW_THREADS) as pool:
            yield from pool.map(codes, batches)


def revision_of(campaign: Campaign) -> str:
    """A fingerprint of what decides the campaign's outcomes: an edit changes it."""
    decided_by = [
        campaign.owner_component,
        campaign.purpose,
        campaign.audience_kind,
        list(campaign.audience_ids or []),
        campaign.priority,
        campaign.deadline.isoformat() if campaign.deadline else None,
        campaign.over_budget,
    ]
    encoded = json.dumps(decided_by, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def _row(expected: Expected) -> PreviewRow:
    recipient = expected.recipient
    return PreviewRow(
        contact_id=expected.contact_id,
        outcome=_code(expected),
        rule=expected.rule,
        deferred_until=expected.until,
        email=recipient.email,
        merge_fields=dict(recipient.merge_fields),
    )


def _code(expected: Expected) -> str:
    return expected.outcome.value if expected.outcome is not None else WILL_SEND
