"""Console area: contact search and the contact page.

Every figure on these pages is what a service answered the signed-in user's own
token: SearchContacts and GetContact (contacts decides which values this person
may read), GetState and GetHistory (consent decides which events and scopes),
ListInteractions (campaigns hides the subject and content of another
component's entries). Nothing is added to what they return; a contact the
viewer's component is not a member of is refused by consent and campaigns with
the API's 404, and so is the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import grpc
from flask import Blueprint, render_template, request, url_for
from pydantic import ValidationError

from meshkit.errors import FieldViolation, InvalidArgument
from meshkit.grpc_client import domain_error
from protos.crm.campaigns.v1 import interactions_pb2
from protos.crm.consent.v1 import consent_pb2
from protos.crm.contacts.v1 import contacts_pb2
from services.gateway import interactions as rest_interactions
from services.gateway import mapping, responses, schemas
from services.gateway.clients import upstream
from services.gateway.console import contact_words as words
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed
from services.gateway.inputs import invalid_input

blueprint = Blueprint("contacts", __name__, url_prefix="/contacts")

SEARCH_PAGE = 50
HISTORY_PAGE = 20
INTERACTIONS_PAGE = 20
CONDITIONS = 3  # filter rows on the search form
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_FILTER_PATH = re.compile(r"^filters\[(\d+)\](?:\.(field|equals|min|max|range\.min|range\.max))?")
_FILTER_INPUT = {
    None: "field",
    "field": "field",
    "equals": "equals",
    "min": "min",
    "max": "max",
    "range.min": "min",
    "range.max": "max",
}


@blueprint.app_template_filter("console_when")
def _when(value: str | None) -> str:
    """`2025-03-04T09:30:00Z` -> `2025-03-04 09:30 UTC` (the services answer in UTC)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@blueprint.app_context_processor
def _words() -> dict[str, Any]:
    if not request.path.startswith("/console/contacts"):
        return {}
    return {"word": words.word, "field_label": words.field_label, "scope_words": words.scope}


# --- Search ----------------------------------------------------------------------------------


@dataclass
class SearchForm:
    """What was typed in the search form, kept to show it again."""

    kind: str = ""
    updated_since: str = ""
    member_of: str = ""
    conditions: list[dict[str, str]] = field(default_factory=list)
    page_token: str = ""

    @classmethod
    def read(cls, args: Any) -> SearchForm:
        conditions = [
            {
                part: args.get(f"f{i}_{part}", "").strip()
                for part in ("field", "equals", "min", "max")
            }
            for i in range(CONDITIONS)
        ]
        return cls(
            kind=args.get("kind", ""),
            updated_since=args.get("updated_since", "").strip(),
            member_of=args.get("member_of", "").strip(),
            conditions=conditions,
            page_token=args.get("page_token", ""),
        )

    def query(self) -> schemas.ContactSearch:
        """The REST search's own model of this form (its checks and limits), or InvalidArgument."""
        values: dict[str, Any] = {"page_size": SEARCH_PAGE, "page_token": self.page_token}
        if self.kind:
            values["kind"] = self.kind
        if self.member_of:
            values["member_of"] = self.member_of
        if self.updated_since:
            values["updated_since"] = _day_start(self.updated_since)
        filters = []
        for index, condition in enumerate(self.conditions):
            if not any(condition.values()):
                continue
            if not condition["field"]:
                raise InvalidArgument("search", [_violation(f"f{index}_field", "required")])
            item: dict[str, str] = {"field": condition["field"]}
            for part in ("equals", "min", "max"):
                if condition[part]:
                    item[part] = condition[part]
            filters.append((index, item))
        values["filters"] = [item for _, item in filters]
        try:
            return schemas.ContactSearch.model_validate(values)
        except ValidationError as error:
            raise _on_form(invalid_input(error), [index for index, _ in filters]) from None


def _violation(name: str, description: str) -> FieldViolation:
    return FieldViolation(name, description)


def _day_start(text: str) -> str:
    """A date typed as YYYY-MM-DD -> the RFC 3339 instant the service wants (UTC midnight)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            "updated_since",
            [_violation("updated_since", i18n.translate("contacts.search.bad_date"))],
        ) from None
    return f"{day.isoformat()}T00:00:00Z"


def _on_form(error: InvalidArgument, rows: list[int]) -> InvalidArgument:
    """The same violations, each named after the form input it is about.

    `rows` maps the n-th filter sent to the form row it came from (empty rows are skipped).
    """
    violations = []
    for violation in error.violations:
        name = violation.field
        found = _FILTER_PATH.match(name)
        if found is not None:
            index = int(found.group(1))
            row = rows[index] if index < len(rows) else index
            name = f"f{row}_{_FILTER_INPUT.get(found.group(2), 'field')}"
        elif name.startswith("filters"):
            name = "f0_field"
        violations.append(_violation(name, violation.description))
    return InvalidArgument(error.detail, violations)


def _components() -> list[tuple[str, str]]:
    """(id, name) of the grouping's components, for a viewer bound to none (admin, dpo)."""
    reply = upstream().contacts.ListComponents(contacts_pb2.ListComponentsRequest(page_size=1000))
    return [(c.id, f"{c.name} ({c.id})") for c in reply.components]


@blueprint.get("/")
@signed.login_required
def index() -> str | tuple[str, int]:
    principal = signed.signed_in()
    form = SearchForm.read(request.args)
    components = [] if principal.component else _components()
    if components and not form.member_of:
        form.member_of = components[0][0]
    found: list[responses.Contact] = []
    next_token = ""
    errors: dict[str, str] = {}
    try:
        query = form.query()
        reply = upstream().contacts.SearchContacts(mapping.contact_search(query))
        found = [mapping.contact(c) for c in reply.contacts]
        next_token = reply.next_page_token
    except InvalidArgument as error:
        errors = forms.form_errors(error, "search")
    except grpc.RpcError as error:
        mapped = domain_error(error)
        if not isinstance(mapped, InvalidArgument):
            raise
        errors = forms.form_errors(_on_form(mapped, _sent_rows(form)), "search")
    html = render_template(
        "console/contacts/search.html",
        form=form,
        components=components,
        contacts=found,
        errors=errors,
        more_open=any(any(c.values()) for c in form.conditions[1:])
        or any(name.startswith("f") and not name.startswith("f0_") for name in errors),
        next_url=_search_url(page_token=next_token) if next_token else None,
        first_url=_search_url(page_token=None) if form.page_token else None,
    )
    return (html, 400) if errors else html


def _sent_rows(form: SearchForm) -> list[int]:
    return [i for i, condition in enumerate(form.conditions) if any(condition.values())]


def _search_url(**changes: str | None) -> str:
    """This search with some query values changed (None: removed)."""
    values: dict[str, Any] = {k: v for k, v in request.args.items() if v and k not in changes}
    values.update({k: v for k, v in changes.items() if v})
    return url_for("console.contacts.index", **values)


# --- The contact page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def current(cls) -> Month:
        today = datetime.now(UTC)
        return cls(today.year, today.month)

    @classmethod
    def parse(cls, text: str) -> Month | None:
        found = _MONTH.match(text)
        if found is None:
            return None
        year, month = int(found.group(1)), int(found.group(2))
        if not (1 <= month <= 12 and 1970 <= year <= 9998):
            return None
        return cls(year, month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def following(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@blueprint.get("/<contact_id>")
@signed.login_required
def contact(contact_id: str) -> str | tuple[str, int]:
    this_month = Month.current()
    typed_month = request.args.get("month", "").strip()
    month = Month.parse(typed_month) if typed_month else this_month
    month_error = "" if month else i18n.translate("contacts.interactions.bad_month")
    found = upstream().contacts.GetContact(contacts_pb2.GetContactRequest(id=contact_id))
    shown = mapping.contact(found)
    # The survivor's id when the one asked for was merged: its consent and history follow.
    state = mapping.consent_state(
        upstream().consent.GetState(consent_pb2.GetStateRequest(contact_id=shown.id)), None
    )
    history = upstream().consent.GetHistory(
        consent_pb2.GetHistoryRequest(
            contact_id=shown.id,
            page_size=HISTORY_PAGE,
            page_token=request.args.get("consent_page", ""),
        )
    )
    events = [mapping.consent_event(e) for e in history.events]
    entries: list[Any] = []
    interactions_next = ""
    if month is not None:
        asked = interactions_pb2.ListInteractionsRequest(
            contact_id=shown.id,
            page_size=INTERACTIONS_PAGE,
            page_token=request.args.get("interactions_page", ""),
        )
        asked.since.FromDatetime(month.start.replace(tzinfo=None))
        asked.until.FromDatetime(month.following.start.replace(tzinfo=None))
        listed = upstream().interactions.ListInteractions(asked)
        entries = [rest_interactions.entry(e) for e in listed.entries]
        interactions_next = listed.next_page_token
    html = render_template(
        "console/contacts/contact.html",
        contact=shown,
        state=state,
        events=events,
        entries=entries,
        month=month,
        typed_month=typed_month if month is None else str(month),
        this_month=this_month,
        errors={"month": month_error} if month_error else {},
        history_next=_contact_url(shown.id, consent_page=history.next_page_token)
        if history.next_page_token
        else None,
        history_first=_contact_url(shown.id, consent_page=None)
        if request.args.get("consent_page")
        else None,
        interactions_next=_contact_url(shown.id, interactions_page=interactions_next)
        if interactions_next
        else None,
        interactions_first=_contact_url(shown.id, interactions_page=None)
        if request.args.get("interactions_page")
        else None,
        month_url=lambda m: _month_url(shown.id, m),
    )
    return (html, 400) if month_error else html


def _contact_url(contact_id: str, **changes: str | None) -> str:
    """This contact page with some query values changed (None: removed)."""
    values: dict[str, Any] = {k: v for k, v in request.args.items() if v and k not in changes}
    values.update({k: v for k, v in changes.items() if v})
    return url_for("console.contacts.contact", contact_id=contact_id, **values)


def _month_url(contact_id: str, month: Month) -> str:
    """The contact page for another month: the history's own position stays, its page resets."""
    values: dict[str, Any] = {"contact_id": contact_id, "month": str(month)}
    if request.args.get("consent_page"):
        values["consent_page"] = request.args["consent_page"]
    return url_for("console.contacts.contact", **values)
