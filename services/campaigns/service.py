"""Use cases of campaigns: create, read, edit, schedule, start, pause, resume, cancel, test.

A campaign is visible only to its owner component (and to administrators);
to anyone else it does not exist. Any token of the owner component reads it;
changing it (create, schedule, send) needs the campaign_manager role, checked
here again whatever the gateway did, and before the input is looked at.
Starting a campaign writes its audience to the ledger as pending rows, in the
same transaction that marks it running.

Every change of status follows the table of lifecycle.py and is made by a
conditional UPDATE on the statuses that table allows it from, so of two
concurrent actions (a cancel and the scheduler's start, a pause and the last
row's close) exactly one wins, and the other is FAILED_PRECONDITION.
Cancelling closes every recipient not yet in flight as `cancelled` in the same
transaction; a mail already in flight finishes and keeps its own outcome.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import literal, select, tuple_, update
from sqlalchemy.orm import Session

from meshkit import page_tokens
from meshkit.db import Database
from meshkit.errors import FailedPrecondition, NotFound, invalid
from meshkit.identity import Principal
from meshkit.roles import Role
from meshkit.scheduling import claim_run
from services.campaigns.clients import Directory, PurposeCatalogue
from services.campaigns.ledger import (
    Clock,
    cancel_pending,
    insert_pending,
    outcome_counts,
    utc_now,
)
from services.campaigns.lifecycle import (
    EDITABLE,
    Action,
    CampaignStatus,
    edit_refusal,
    refusal,
    sources,
    target,
    test_send_refusal,
)
from services.campaigns.models import JOB_RUNS, Campaign, Delivery
from services.campaigns.policy import (
    Reachability,
    TransactionalKind,
    merge_fields_of,
    parse_template,
    render,
)
from services.campaigns.validation import (
    MAX_CONTACT_ID,
    NUL,
    Audience,
    AudienceKind,
    CampaignEdit,
    Draft,
    OverBudget,
    TransactionalMail,
    check_campaign_id,
    check_catalogued,
    edited,
    validated,
)

STARTABLE = tuple(sorted(sources(Action.START)))
START_JOB = "campaign-start"
DEFAULT_PAGE = 100
MAX_PAGE = 1000
CAMPAIGNS_LIST = "campaigns"
DELIVERIES_LIST = "campaigns.deliveries"


@dataclass(frozen=True)
class CampaignView:
    id: str
    name: str
    owner_component: str
    purpose: str
    subject_template: str
    body_template: str
    audience: Audience
    status: CampaignStatus
    send_at: datetime | None
    created_by: str
    created_at: datetime
    outcome_counts: dict[str, int] = field(default_factory=dict)
    priority: int = 5
    deadline: datetime | None = None
    over_budget: OverBudget = OverBudget.DEFER
    html_body_template: str = ""


@dataclass(frozen=True)
class DeliveryView:
    contact_id: str
    outcome: str
    rule: str | None
    decided_at: datetime | None
    message_id: str | None
    deferred_until: datetime | None = None  # a deferred row: when it leaves


@dataclass(frozen=True)
class CampaignsPage:
    campaigns: list[CampaignView]
    next_page_token: str


@dataclass(frozen=True)
class DeliveriesPage:
    deliveries: list[DeliveryView]
    next_page_token: str


def _no_op(_campaign_id: str, _send_at: datetime) -> None:
    return None


def _forget_nothing(_campaign_id: str) -> None:
    return None


def start_run_key(campaign_id: str, send_at: datetime) -> str:
    """The run key of one scheduled start: a campaign starts once per planned time."""
    return f"{campaign_id}:{send_at.isoformat()}"


class _AlreadyRan(Exception):
    """Another run took this start's key first."""


class CampaignsService:
    """The use cases behind the CampaignsService RPCs and the scheduler."""

    def __init__(
        self,
        db: Database,
        directory: Directory,
        purposes: PurposeCatalogue,
        clock: Clock = utc_now,
        on_scheduled: Callable[[str, datetime], None] = _no_op,
        on_unscheduled: Callable[[str], None] = _forget_nothing,
    ):
        self._db = db
        self._directory = directory
        self._purposes = purposes
        self._clock = clock
        self._on_scheduled = on_scheduled
        self._on_unscheduled = on_unscheduled

    def create(self, principal: Principal, draft: Draft) -> CampaignView:
        """A new draft campaign owned by the caller's component, on a purpose of the catalogue."""
        component = _manager_of(principal)
        draft = validated(draft, now=self._clock())
        # Asked of consent only once the draft is well formed; Unavailable when it cannot say.
        check_catalogued(self._purposes.find(draft.purpose))
        assert draft.audience is not None  # validated() guarantees it
        campaign = Campaign(
            id=str(uuid.uuid4()),
            owner_component=component,
            status=CampaignStatus.DRAFT.value,
            send_at=None,
            created_by=principal.subject,
            created_at=self._clock(),
            **_columns(draft),
        )
        with self._db.transaction() as session:
            session.add(campaign)
        return _view(campaign, {})

    def get(self, principal: Principal, campaign_id: str) -> CampaignView:
        """One campaign the caller may see, with its outcome counts."""
        with self._db.transaction() as session:
            campaign = _visible(session, principal, campaign_id, field="id", services_too=True)
            return _view(campaign, outcome_counts(session, [campaign.id])[campaign.id])

    def list_campaigns(
        self, principal: Principal, page_size: int = 0, page_token: str = ""
    ) -> CampaignsPage:
        """One page of the caller's component's campaigns (every campaign for
        administrators), newest first."""
        size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
        scope = "" if principal.is_admin else principal.require_component()
        query = select(Campaign)
        if scope:
            query = query.where(Campaign.owner_component == scope)
        after = page_tokens.after_time_and_id(page_token, CAMPAIGNS_LIST, scope)
        if after is not None:
            # Keyset, newest first: a campaign created meanwhile sorts before the position.
            # Bound with the columns' own types (UTC handling on SQLite as on PostgreSQL).
            at, last_id = literal(after[0], Campaign.created_at.type), literal(after[1])
            query = query.where(tuple_(Campaign.created_at, Campaign.id) < tuple_(at, last_id))
        query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(size + 1)
        with self._db.transaction() as session:
            campaigns = list(session.scalars(query))
            more = len(campaigns) > size
            campaigns = campaigns[:size]
            counts = outcome_counts(session, [c.id for c in campaigns])
        last = campaigns[-1] if more else None
        token = (
            page_tokens.encode(CAMPAIGNS_LIST, (last.created_at, last.id), scope) if last else ""
        )
        return CampaignsPage([_view(c, counts[c.id]) for c in campaigns], token)

    def schedule(
        self, principal: Principal, campaign_id: str, send_at: datetime | None
    ) -> CampaignView:
        """Plans the start of a draft or scheduled campaign at a future `send_at`."""
        _manager_of(principal)
        if send_at is None:
            raise invalid("send_at", "is required")
        if send_at <= self._clock():
            raise invalid("send_at", "must be in the future")
        with self._db.transaction() as session:
            campaign = _owned(session, principal, campaign_id, field="id")
            _require(campaign, Action.SCHEDULE)
            if campaign.deadline is not None and send_at >= campaign.deadline:
                raise invalid("send_at", "must be before the campaign's deadline")
            # Conditional, like every start: a SendNow that won meanwhile is not undone.
            moved = session.execute(
                update(Campaign)
                .where(
                    Campaign.id == campaign.id,
                    Campaign.status.in_(_words(sources(Action.SCHEDULE))),
                )
                .values(status=CampaignStatus.SCHEDULED.value, send_at=send_at)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                raise FailedPrecondition("the campaign was started meanwhile")
        self._on_scheduled(campaign_id, send_at)
        return self.get(principal, campaign_id)

    def send_now(self, principal: Principal, campaign_id: str) -> CampaignView:
        """Starts a draft or scheduled campaign now: its audience becomes pending ledger rows."""
        _manager_of(principal)
        with self._db.transaction() as session:
            campaign = _owned(session, principal, campaign_id, field="id")
            _require(campaign, Action.START)
        contact_ids = self.audience_of(campaign)
        with self._db.transaction() as session:
            if not self._mark_running(session, campaign.id, STARTABLE, None):
                raise FailedPrecondition("the campaign was started meanwhile")
            insert_pending(session, campaign.id, contact_ids)
        return self.get(principal, campaign_id)

    def start_scheduled(self, campaign_id: str, send_at: datetime, runner: str) -> bool:
        """The scheduler's start: runs once per (campaign, send_at); False when nothing to do."""
        with self._db.transaction() as session:
            campaign = session.get(Campaign, campaign_id)
            if (
                campaign is None
                or campaign.status != CampaignStatus.SCHEDULED
                or campaign.send_at != send_at
            ):
                return False
        contact_ids = self.audience_of(campaign)
        try:
            with self._db.transaction() as session:
                scheduled = (CampaignStatus.SCHEDULED.value,)
                if not self._mark_running(session, campaign_id, scheduled, send_at):
                    return False
                if not claim_run(
                    session, JOB_RUNS, START_JOB, start_run_key(campaign_id, send_at), runner
                ):
                    raise _AlreadyRan()  # rolls the start back
                insert_pending(session, campaign_id, contact_ids)
        except _AlreadyRan:
            return False
        return True

    def scheduled_starts(self) -> list[tuple[str, datetime]]:
        """(campaign id, send_at) of every scheduled campaign, for the scheduler."""
        with self._db.transaction() as session:
            rows = session.execute(
                select(Campaign.id, Campaign.send_at).where(
                    Campaign.status == CampaignStatus.SCHEDULED
                )
            ).all()
        return [(campaign_id, send_at) for campaign_id, send_at in rows if send_at is not None]

    def update(self, principal: Principal, campaign_id: str, edit: CampaignEdit) -> CampaignView:
        """Changes a draft or scheduled campaign; FailedPrecondition once it may have sent."""
        _manager_of(principal)
        with self._db.transaction() as session:
            campaign = _owned(session, principal, campaign_id, field="id")
            reason = edit_refusal(CampaignStatus(campaign.status))
            if reason is not None:
                raise FailedPrecondition(reason)
            send_at = campaign.send_at if campaign.status == CampaignStatus.SCHEDULED else None
            draft = validated(edited(_draft_of(campaign), edit), self._clock(), send_at)
            purpose_changed = draft.purpose != campaign.purpose
        if edit.empty:
            return self.get(principal, campaign_id)
        if purpose_changed:
            check_catalogued(self._purposes.find(draft.purpose))
        with self._db.transaction() as session:
            # Conditional: a start that won since the read above is not edited under its feet.
            moved = session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status.in_(_words(EDITABLE)))
                .values(**_columns(draft))
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                raise FailedPrecondition("the campaign was started meanwhile")
        return self.get(principal, campaign_id)

    def unschedule(self, principal: Principal, campaign_id: str) -> CampaignView:
        """scheduled -> draft: the planned start is dropped, and the scheduler forgets it."""
        self._move(principal, campaign_id, Action.UNSCHEDULE, send_at=None)
        self._on_unscheduled(campaign_id)
        return self.get(principal, campaign_id)

    def pause(self, principal: Principal, campaign_id: str) -> CampaignView:
        """running -> paused: workers stop claiming its rows; mails in flight finish."""
        self._move(principal, campaign_id, Action.PAUSE, paused_at=self._clock())
        return self.get(principal, campaign_id)

    def resume(self, principal: Principal, campaign_id: str) -> CampaignView:
        """paused -> running: the recipients still pending leave, from the ledger."""
        self._move(principal, campaign_id, Action.RESUME)
        return self.get(principal, campaign_id)

    def cancel(self, principal: Principal, campaign_id: str) -> CampaignView:
        """Any status before done -> cancelled; recipients not yet in flight: `cancelled`."""
        now = self._clock()
        was = self._move(principal, campaign_id, Action.CANCEL, cancelled_at=now)
        if was is CampaignStatus.SCHEDULED:
            self._on_unscheduled(campaign_id)
        return self.get(principal, campaign_id)

    def _move(
        self, principal: Principal, campaign_id: str, action: Action, **values: object
    ) -> CampaignStatus:
        """Applies `action` by a conditional UPDATE; returns the status it moved from.

        A cancel closes the rows not yet in flight in the same transaction.
        """
        _manager_of(principal)
        with self._db.transaction() as session:
            campaign = _owned(session, principal, campaign_id, field="id")
            _require(campaign, action)
            was = CampaignStatus(campaign.status)
            moved = session.execute(
                update(Campaign)
                .where(Campaign.id == campaign.id, Campaign.status == was.value)
                .values(status=_target(was, action).value, **values)
                .execution_options(synchronize_session=False)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                raise FailedPrecondition("the campaign changed meanwhile; read it again")
            if action is Action.CANCEL:
                cancel_pending(session, campaign.id, self._clock())
        return was

    def test_mail(
        self, principal: Principal, campaign_id: str, sample_contact_id: str
    ) -> TransactionalMail:
        """The test send of a draft or scheduled campaign to the caller's own address.

        The merge fields are those contacts gives the caller's component for the sample
        contact (empty without one): the manager sees nothing they could not read.
        Returned as a transactional mail of kind test_send, for TransactionalMails.
        """
        component = _manager_of(principal)
        with self._db.transaction() as session:
            campaign = _owned(session, principal, campaign_id, field="id")
        if not principal.email:
            raise FailedPrecondition("the token carries no email claim to send the test to")
        reason = test_send_refusal(CampaignStatus(campaign.status))
        if reason is not None:
            raise FailedPrecondition(reason)
        fields = self._sample_fields(component, campaign, _sample_id(sample_contact_id))
        subject = render(parse_template(campaign.subject_template), fields, single_line=True)
        body = render(parse_template(campaign.body_template), fields)
        html_body = ""
        if campaign.html_body_template:
            escaped = {name: html.escape(value) for name, value in fields.items()}
            html_body = render(parse_template(campaign.html_body_template), escaped)
        return TransactionalMail(
            idempotency_key=f"test-send:{campaign.id}:{uuid.uuid4().hex}",
            # Not the sample's id: the sample contact receives nothing.
            contact_id=f"test-send:{campaign.id}",
            kind=TransactionalKind.TEST_SEND.value,
            subject=subject,
            text_body=body,
            component_id=component,
            to=principal.email,
            html_body=html_body,
            purpose=campaign.purpose,
        )

    def _sample_fields(
        self, component: str, campaign: Campaign, sample_contact_id: str
    ) -> dict[str, str]:
        if not sample_contact_id:
            return {}
        templates = [campaign.subject_template, campaign.body_template]
        if campaign.html_body_template:
            templates.append(campaign.html_body_template)
        (recipient,) = self._directory.resolve(
            component, campaign.purpose, [sample_contact_id], merge_fields_of(*templates)
        )
        if recipient.reachability is Reachability.NOT_MEMBER:
            # Unknown and foreign ids answer alike: ids cannot be probed.
            raise invalid("sample_contact_id", "names no contact of your component")
        return dict(recipient.merge_fields)

    def list_deliveries(
        self, principal: Principal, campaign_id: str, page_size: int, page_token: str
    ) -> DeliveriesPage:
        """One page of a campaign's ledger, in ledger order."""
        size = page_tokens.page_size(page_size, DEFAULT_PAGE, MAX_PAGE)
        with self._db.transaction() as session:
            campaign = _visible(session, principal, campaign_id, field="campaign_id")
            after = page_tokens.after_int(page_token, DELIVERIES_LIST, campaign.id) or 0
            rows = list(
                session.scalars(
                    select(Delivery)
                    .where(Delivery.campaign_id == campaign.id, Delivery.id > after)
                    .order_by(Delivery.id)
                    .limit(size + 1)
                )
            )
        more = len(rows) > size
        rows = rows[:size]
        token = page_tokens.encode(DELIVERIES_LIST, (rows[-1].id,), campaign.id) if more else ""
        return DeliveriesPage(
            [
                DeliveryView(
                    r.contact_id,
                    r.outcome,
                    r.rule,
                    r.decided_at,
                    r.message_id,
                    r.deferred_until if r.outcome == "deferred" else None,
                )
                for r in rows
            ],
            token,
        )

    def audience_of(self, campaign: Campaign) -> Sequence[str]:
        """The campaign's audience as listed (merged records not yet folded)."""
        if campaign.audience_kind == AudienceKind.ALL_OF_COMPONENT:
            # Under the service identity: every contact the owner component is a member of.
            return list(dict.fromkeys(self._directory.member_ids(campaign.owner_component)))
        return list(campaign.audience_ids)

    def _mark_running(
        self,
        session: Session,
        campaign_id: str,
        from_statuses: Sequence[str],
        send_at: datetime | None,
    ) -> bool:
        # Conditional: of two concurrent starts, exactly one moves the campaign.
        statement = update(Campaign).where(
            Campaign.id == campaign_id, Campaign.status.in_(from_statuses)
        )
        if send_at is not None:
            statement = statement.where(Campaign.send_at == send_at)
        result = session.execute(
            statement.values(
                status=CampaignStatus.RUNNING.value, started_at=self._clock()
            ).execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _visible(
    session: Session,
    principal: Principal,
    campaign_id: str,
    field: str,
    services_too: bool = False,
) -> Campaign:
    """A campaign the caller may read; another component's campaign is NOT_FOUND.

    With `services_too`, a mesh service reads any campaign too (the gateway's
    preference page asks which component sent the mail a link came in).
    """
    every = principal.is_admin or (services_too and principal.is_service)
    if not every:
        principal.require_component()
    check_campaign_id(field, campaign_id)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not (every or campaign.owner_component == principal.component):
        raise NotFound("campaign not found")
    return campaign


def _manager_of(principal: Principal) -> str:
    """The component a campaign manager acts for; PermissionDenied for anyone else."""
    component = principal.require_component()
    principal.require_role(Role.CAMPAIGN_MANAGER)
    return component


def _owned(session: Session, principal: Principal, campaign_id: str, field: str) -> Campaign:
    """A campaign the caller's component owns and the caller may change."""
    component = _manager_of(principal)
    check_campaign_id(field, campaign_id)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.owner_component != component:
        raise NotFound("campaign not found")
    return campaign


def _require(campaign: Campaign, action: Action) -> None:
    """FailedPrecondition when the campaign's status does not allow `action`."""
    reason = refusal(CampaignStatus(campaign.status), action)
    if reason is not None:
        raise FailedPrecondition(reason)


def _target(status: CampaignStatus, action: Action) -> CampaignStatus:
    moved = target(status, action)
    assert moved is not None  # _require() checked it
    return moved


def _words(statuses: frozenset[CampaignStatus]) -> list[str]:
    return sorted(s.value for s in statuses)


def _columns(draft: Draft) -> dict[str, object]:
    """The campaign columns a (validated) draft sets."""
    assert draft.audience is not None
    return {
        "name": draft.name,
        "purpose": draft.purpose,
        "subject_template": draft.subject_template,
        "body_template": draft.body_template,
        "audience_kind": draft.audience.kind.value,
        "audience_ids": list(draft.audience.contact_ids),
        "priority": draft.priority,
        "deadline": draft.deadline,
        "over_budget": draft.over_budget.value,
        "html_body_template": draft.html_body_template or None,
    }


def _draft_of(campaign: Campaign) -> Draft:
    return Draft(
        name=campaign.name,
        purpose=campaign.purpose,
        subject_template=campaign.subject_template,
        body_template=campaign.body_template,
        audience=Audience(AudienceKind(campaign.audience_kind), tuple(campaign.audience_ids)),
        priority=campaign.priority,
        deadline=campaign.deadline,
        over_budget=OverBudget(campaign.over_budget),
        html_body_template=campaign.html_body_template or "",
    )


def _sample_id(sample_contact_id: str) -> str:
    if len(sample_contact_id) > MAX_CONTACT_ID or NUL in sample_contact_id:
        raise invalid(
            "sample_contact_id", f"must be at most {MAX_CONTACT_ID} characters, without NUL"
        )
    return sample_contact_id


def _view(campaign: Campaign, counts: dict[str, int]) -> CampaignView:
    return CampaignView(
        id=campaign.id,
        name=campaign.name,
        owner_component=campaign.owner_component,
        purpose=campaign.purpose,
        subject_template=campaign.subject_template,
        body_template=campaign.body_template,
        audience=Audience(AudienceKind(campaign.audience_kind), tuple(campaign.audience_ids)),
        status=CampaignStatus(campaign.status),
        send_at=campaign.send_at,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        outcome_counts=dict(counts),
        priority=campaign.priority,
        deadline=campaign.deadline,
        over_budget=OverBudget(campaign.over_budget),
        html_body_template=campaign.html_body_template or "",
    )
