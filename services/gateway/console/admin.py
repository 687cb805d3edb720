"""Console area: administration of the grouping: the organisation tree, the field policies
and "view as" (a contact as a chosen component, service and level would see it).

Every page calls contacts with the signed-in administrator's own token; contacts
decides again (writes and the people of the tree are for administrators), and
"view as" is computed by contacts' own policy code, audited as the admin's read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import grpc
from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from meshkit.errors import AlreadyExists, DomainError, InvalidArgument, NotFound
from meshkit.grpc_client import domain_error
from meshkit.roles import Role
from protos.crm.contacts.v1 import contacts_pb2 as pb
from services.gateway.clients import upstream
from services.gateway.console import forms, i18n
from services.gateway.console import session as signed

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

CATALOGUE_PAGE = 100  # fields per page of the policies table
POLICIES_PAGE = 1000  # policies per call while collecting them (a few dozen in practice)
MAX_POLICY_CALLS = 20  # at most this many pages of policies for one page of the table
HISTORY_PAGE = 50

MESSAGES = {
    "admin.title": ("Administration", "Administration"),
    "admin.organisation": ("Organisation", "Organisation"),
    "admin.policies": ("Règles de visibilité des champs", "Field policies"),
    "admin.pressure": ("Pression marketing", "Marketing pressure"),
    "admin.purposes": ("Finalités et mentions", "Purposes and notices"),
    "admin.view_as": ("Voir comme", "View as"),
    # Organisation tree
    "admin.org.components": ("Composantes", "Components"),
    "admin.org.no_components": ("Aucune composante.", "No component yet."),
    "admin.org.services_of": ("Services de {name}", "Services of {name}"),
    "admin.org.no_services": ("Aucun service.", "No service."),
    "admin.org.levels": ("Niveaux hiérarchiques", "Hierarchy levels"),
    "admin.org.levels_help": ("Du plus bas au plus haut.", "Lowest first."),
    "admin.org.no_levels": ("Aucun niveau défini.", "No level defined."),
    "admin.org.people": ("Personnes", "People"),
    "admin.org.no_people": ("Aucune personne placée dans l'arbre.", "Nobody placed in the tree."),
    "admin.org.subject": ("Identifiant", "Subject"),
    "admin.org.component": ("Composante", "Component"),
    "admin.org.service": ("Service", "Service"),
    "admin.org.level": ("Niveau", "Level"),
    "admin.org.roles": ("Rôles", "Roles"),
    "admin.org.grouping": ("Groupement", "Grouping"),
    "admin.org.new_component": ("Nouvelle composante", "New component"),
    "admin.org.new_service": ("Nouveau service", "New service"),
    "admin.org.id": ("Identifiant", "Id"),
    "admin.org.id_help": (
        "2 à 40 caractères parmi a-z, 0-9 et -.",
        "2 to 40 characters among a-z, 0-9 and -.",
    ),
    "admin.org.name": ("Nom", "Name"),
    "admin.org.create": ("Créer", "Create"),
    "admin.org.created_component": ("Composante créée.", "Component created."),
    "admin.org.created_service": ("Service créé.", "Service created."),
    # Field policies
    "admin.pol.caption": (
        "Champs et autorisations de lecture, d'écriture et d'agrégat",
        "Fields and their read, write and aggregate grants",
    ),
    "admin.pol.intro": (
        "Un champ sans règle n'est lisible et modifiable que par la composante qui détient"
        " la valeur.",
        "A field with no policy is read and written by the component that holds the value only.",
    ),
    "admin.pol.field": ("Champ", "Field"),
    "admin.pol.read": ("Lecture", "Read"),
    "admin.pol.write": ("Écriture", "Write"),
    "admin.pol.aggregate": ("Agrégats seulement", "Aggregates only"),
    "admin.pol.aggregate_help": (
        "Qui peut utiliser ce champ dans des indicateurs sans en lire aucune valeur (ceux qui"
        " le lisent le peuvent aussi). Même syntaxe ; vide : les lecteurs seulement.",
        "Who may use this field in indicators without reading any value (its readers may"
        " too). Same syntax; empty: its readers only.",
    ),
    "admin.pol.readers_only": ("Ses lecteurs seulement", "Its readers only"),
    "admin.pol.history": ("Historique", "History"),
    "admin.pol.history_of": ("Historique de {field}", "History of {field}"),
    "admin.pol.owner_only": ("Composante détentrice seulement", "Owner component only"),
    "admin.pol.nobody": ("Personne", "Nobody"),
    "admin.pol.no_policy": ("pas de règle", "no policy"),
    "admin.pol.audience.owner": ("Composante détentrice", "Owner component"),
    "admin.pol.audience.members": ("Composantes membres du contact", "The contact's components"),
    "admin.pol.audience.components": ("Composantes : {names}", "Components: {names}"),
    "admin.pol.audience.grouping": ("Tout le groupement", "The whole grouping"),
    "admin.pol.cond.service": ("service {value}", "service {value}"),
    "admin.pol.cond.level": ("niveau {value} ou plus", "level {value} or above"),
    "admin.pol.cond.subject": ("personne {value}", "person {value}"),
    "admin.pol.changes_caption": ("Modifications de la règle", "Changes of the policy"),
    "admin.pol.no_changes": ("Aucune modification enregistrée.", "No change recorded."),
    "admin.pol.when": ("Date", "When"),
    "admin.pol.by": ("Par", "By"),
    "admin.pol.before": ("Avant", "Before"),
    "admin.pol.after": ("Après", "After"),
    "admin.pol.back": ("Retour aux règles", "Back to the policies"),
    "admin.pol.edit": ("Modifier", "Edit"),
    "admin.pol.edit_of": ("Modifier la règle de {field}", "Edit the policy of {field}"),
    "admin.pol.edit_title": ("Modifier une règle", "Edit a policy"),
    "admin.pol.grants_help": (
        "Une autorisation par ligne : owner, members, grouping ou components=a,b ; puis,"
        " au besoin, service=…, level=… (ce niveau ou plus), person=…. Vide : personne.",
        "One grant per line: owner, members, grouping or components=a,b; then, if needed,"
        " service=…, level=… (that level or above), person=…. Empty: nobody.",
    ),
    "admin.pol.save": ("Enregistrer", "Save"),
    "admin.pol.saved": ("Règle enregistrée.", "Policy saved."),
    "admin.pol.bad_line": ("ligne {line} : {problem}", "line {line}: {problem}"),
    "admin.pol.bad_word": ("« {word} » n'est pas compris", '"{word}" is not understood'),
    # View as
    "admin.va.intro": (
        "Affiche un contact exactement comme le verrait une personne de cette composante,"
        " de ce service et de ce niveau. La lecture est tracée à votre nom.",
        "Shows a contact exactly as a person of this component, service and level would see it."
        " The read is audited under your name.",
    ),
    "admin.va.contact": ("Identifiant du contact", "Contact id"),
    "admin.va.component": ("Composante", "Component"),
    "admin.va.service": ("Service", "Service"),
    "admin.va.level": ("Niveau", "Level"),
    "admin.va.none": ("(aucun)", "(none)"),
    "admin.va.choose": ("(choisir)", "(choose)"),
    "admin.va.show": ("Afficher", "Show"),
    "admin.va.result": (
        "Le contact vu par {placement}",
        "The contact as seen by {placement}",
    ),
    "admin.va.nothing": (
        "Cette position ne voit aucune valeur de ce contact.",
        "This placement sees no value of this contact.",
    ),
    "admin.va.value": ("Valeur", "Value"),
    "admin.va.owner": ("Détenue par", "Held by"),
    "admin.va.members": ("Composantes membres", "Member components"),
    "admin.va.kind": ("Type", "Kind"),
    "admin.va.person": ("Personne", "Person"),
    "admin.va.company": ("Entreprise", "Company"),
    "admin.va.merged": (
        "Ce contact a été fusionné dans {id}.",
        "This contact was merged into {id}.",
    ),
}
i18n.register(MESSAGES)

_AUDIENCE_WORDS = {
    pb.AUDIENCE_OWNER: "owner",
    pb.AUDIENCE_MEMBERS: "members",
    pb.AUDIENCE_COMPONENTS: "components",
    pb.AUDIENCE_GROUPING: "grouping",
}
_KIND_WORDS = {
    pb.CONTACT_KIND_PERSON: "admin.va.person",
    pb.CONTACT_KIND_COMPANY: "admin.va.company",
}

Reply = TypeVar("Reply")


def _call(method: Callable[[Any], Reply], message: Any) -> Reply:
    """One call to contacts with the admin's token; a refusal as the domain error it was."""
    try:
        return method(message)
    except grpc.RpcError as error:
        raise domain_error(error) from None


# --- Index -------------------------------------------------------------------------------------


@blueprint.get("/")
@signed.role_required(Role.ADMIN, component=False)
def index() -> str:
    return render_template("console/admin/index.html")


# --- Organisation tree -------------------------------------------------------------------------

# Form field names of each creation form, by the field name contacts reports a violation on.
_COMPONENT_FORM = {"id": "component_id", "name": "component_name"}
_SERVICE_FORM = {"component_id": "service_component", "id": "service_id", "name": "service_name"}


@blueprint.get("/organisation")
@signed.role_required(Role.ADMIN, component=False)
def organisation() -> str:
    done = request.args.get("done", "")
    return _organisation_page({}, {}, done if done in ("component", "service") else "")


def _organisation_page(errors: Mapping[str, str], typed: Mapping[str, str], done: str = "") -> str:
    tree = _call(upstream().contacts.GetOrganisation, pb.GetOrganisationRequest())
    services: dict[str, list[pb.OrgService]] = {}
    for service in tree.services:
        services.setdefault(service.component_id, []).append(service)
    return render_template(
        "console/admin/organisation.html",
        tree=tree,
        services=services,
        errors=errors,
        typed=typed,
        done=done,
        component_options=[("", i18n.translate("admin.va.choose"))]
        + [(c.id, f"{c.name} ({c.id})") for c in tree.components],
    )


@blueprint.post("/organisation/components")
@signed.role_required(Role.ADMIN, component=False)
def create_component() -> str | Response:
    typed = {name: request.form.get(name, "").strip() for name in _COMPONENT_FORM.values()}
    message = pb.CreateComponentRequest(id=typed["component_id"], name=typed["component_name"])
    try:
        _call(upstream().contacts.CreateComponent, message)
    except (InvalidArgument, AlreadyExists) as error:
        errors = forms.form_errors(error, "component_id", _COMPONENT_FORM, say_field=True)
        return Response(_organisation_page(errors, typed), _status(error), mimetype="text/html")
    return redirect(url_for("console.admin.organisation", done="component"), 303)


@blueprint.post("/organisation/services")
@signed.role_required(Role.ADMIN, component=False)
def create_service() -> str | Response:
    typed = {name: request.form.get(name, "").strip() for name in _SERVICE_FORM.values()}
    message = pb.CreateServiceRequest(
        component_id=typed["service_component"], id=typed["service_id"], name=typed["service_name"]
    )
    try:
        _call(upstream().contacts.CreateService, message)
    except (InvalidArgument, AlreadyExists, NotFound) as error:
        fallback = "service_component" if isinstance(error, NotFound) else "service_id"
        errors = forms.form_errors(error, fallback, _SERVICE_FORM, say_field=True)
        return Response(_organisation_page(errors, typed), _status(error), mimetype="text/html")
    return redirect(url_for("console.admin.organisation", done="service"), 303)


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, AlreadyExists) else 404 if isinstance(error, NotFound) else 400


# --- Field policies ----------------------------------------------------------------------------


@blueprint.get("/field-policies")
@signed.role_required(Role.ADMIN, component=False)
def policies() -> str:
    page_token = request.args.get("page_token", "")
    contacts = upstream().contacts
    catalogue = _call(
        contacts.GetCatalogue,
        pb.GetCatalogueRequest(page_size=CATALOGUE_PAGE, page_token=page_token),
    )
    by_field = _all_policies()
    names = [f.field for f in catalogue.fields]
    if not page_token:  # fields with a policy but no catalogue entry (the derived display name)
        listed = {f.field for f in catalogue.fields}
        names = [n for n in sorted(by_field) if n not in listed and "." not in n] + names
    labels = {f.field: _label(f) for f in catalogue.fields}
    rows = [
        {
            "field": name,
            "label": labels.get(name, name),
            "policy": by_field.get(name),
            "read": _grants_text(by_field[name].read) if name in by_field else None,
            "write": _grants_text(by_field[name].write) if name in by_field else None,
            "aggregate": _grants_text(by_field[name].aggregate) if name in by_field else None,
        }
        for name in names
    ]
    next_url = (
        url_for("console.admin.policies", page_token=catalogue.next_page_token)
        if catalogue.next_page_token
        else None
    )
    first_url = url_for("console.admin.policies") if page_token else None
    return render_template(
        "console/admin/policies.html", rows=rows, next_url=next_url, first_url=first_url
    )


def _all_policies() -> dict[str, pb.FieldPolicy]:
    """Every policy an admin set, by field (a few dozen: one call in practice)."""
    found: dict[str, pb.FieldPolicy] = {}
    token = ""
    for _ in range(MAX_POLICY_CALLS):
        reply = _call(
            upstream().contacts.ListFieldPolicies,
            pb.ListFieldPoliciesRequest(page_size=POLICIES_PAGE, page_token=token),
        )
        found.update({p.field: p for p in reply.policies})
        token = reply.next_page_token
        if not token:
            break
    return found


@blueprint.get("/field-policies/history")
@signed.role_required(Role.ADMIN, component=False)
def policy_history() -> str:
    field = request.args.get("field", "")
    page_token = request.args.get("page_token", "")
    reply = _call(
        upstream().contacts.ListFieldPolicyChanges,
        pb.ListFieldPolicyChangesRequest(
            field=field, page_size=HISTORY_PAGE, page_token=page_token
        ),
    )
    changes = [
        {
            "field": c.field,
            "when": c.changed_at,
            "by": c.changed_by,
            "before": (_policy_words(c.before) if c.HasField("before") else None),
            "after": _policy_words(c.after),
        }
        for c in reply.changes
    ]
    next_url = (
        url_for("console.admin.policy_history", field=field, page_token=reply.next_page_token)
        if reply.next_page_token
        else None
    )
    return render_template(
        "console/admin/policy_history.html",
        field=field,
        changes=changes,
        next_url=next_url,
        saved=request.args.get("saved") == "1",
    )


def _policy_words(policy: pb.FieldPolicy) -> dict[str, list[str]]:
    return {kind: _grants_text(getattr(policy, kind)) for kind in GRANT_KINDS}


def _grants_text(grants: Iterable[pb.Grant]) -> list[str]:
    """Each grant in words: its audience, then each of its conditions."""
    return [_grant_text(grant) for grant in grants]


def _grant_text(grant: pb.Grant) -> str:
    audience = _AUDIENCE_WORDS.get(grant.audience, "owner")
    parts = [i18n.translate(f"admin.pol.audience.{audience}", names=", ".join(grant.components))]
    if grant.service:
        parts.append(i18n.translate("admin.pol.cond.service", value=grant.service))
    if grant.min_level:
        parts.append(i18n.translate("admin.pol.cond.level", value=grant.min_level))
    if grant.subject:
        parts.append(i18n.translate("admin.pol.cond.subject", value=grant.subject))
    return " · ".join(parts)


def _label(definition: pb.FieldDefinition) -> str:
    label = definition.label_fr if i18n.language() == "fr" else definition.label_en
    return label or definition.field


# --- View as -----------------------------------------------------------------------------------

# Form field names by the field name contacts reports a violation on.
_VIEW_AS_FORM = {
    "id": "contact",
    "view_as.component_id": "component",
    "view_as.service_id": "service",
    "view_as.level": "level",
}


@blueprint.route("/view-as", methods=["GET", "POST"])
@signed.role_required(Role.ADMIN, component=False)
def view_as() -> Response:
    """The form (GET), and a contact as a placement sees it (POST).

    A POST, with the CSRF token: each view is an audited read of protected values, which a
    link on another site must not be able to make in an admin's name.
    """
    typed = {name: request.form.get(name, "").strip() for name in _VIEW_AS_FORM.values()}
    contacts = upstream().contacts
    tree = _call(contacts.GetOrganisation, pb.GetOrganisationRequest())
    shown: pb.Contact | None = None
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        placement = pb.ViewAs(
            component_id=typed["component"], service_id=typed["service"], level=typed["level"]
        )
        try:
            shown = _call(
                contacts.GetContact, pb.GetContactRequest(id=typed["contact"], view_as=placement)
            )
        except InvalidArgument as error:
            errors, status = forms.form_errors(error, "contact", _VIEW_AS_FORM, say_field=True), 400
    rows = []
    if shown is not None:
        labels = _labels()
        rows = [
            {"field": name, "label": labels.get(name, name), "value": v.value,
             "owner": v.owner_component}
            for name, v in sorted(shown.fields.items())
        ]  # fmt: skip
    placement_words = " · ".join(
        part for part in (typed["component"], typed["service"], typed["level"]) if part
    )
    html = render_template(
        "console/admin/view_as.html",
        typed=typed,
        errors=errors,
        shown=shown,
        rows=rows,
        kind=_KIND_WORDS.get(shown.kind, "") if shown is not None else "",
        placement=placement_words,
        component_options=[("", i18n.translate("admin.va.choose"))]
        + [(c.id, f"{c.name} ({c.id})") for c in tree.components],
        service_options=[("", i18n.translate("admin.va.none"))]
        + [(s.id, f"{s.component_id} / {s.name} ({s.id})") for s in tree.services],
        level_options=[("", i18n.translate("admin.va.none"))] + [(v, v) for v in tree.levels],
    )
    return Response(html, status, mimetype="text/html")


def _labels() -> dict[str, str]:
    """The catalogue's labels in the page's language (one page: core fields and attributes)."""
    catalogue = _call(upstream().contacts.GetCatalogue, pb.GetCatalogueRequest(page_size=1000))
    return {f.field: _label(f) for f in catalogue.fields}


# --- Editing a policy (SetFieldPolicy) ---------------------------------------------------------

_GRANT_AUDIENCES = {word: number for number, word in _AUDIENCE_WORDS.items()}
_CONDITIONS = {"service": "service", "level": "min_level", "person": "subject"}
GRANT_KINDS = ("read", "write", "aggregate")


@blueprint.get("/field-policies/edit")
@signed.role_required(Role.ADMIN, component=False)
def edit_policy() -> str:
    field = request.args.get("field", "")
    current = _all_policies().get(field) if field else None
    typed = {
        "field": field,
        "read": "\n".join(_grant_line(g) for g in current.read) if current else "owner",
        "write": "\n".join(_grant_line(g) for g in current.write) if current else "owner",
        "aggregate": "\n".join(_grant_line(g) for g in current.aggregate) if current else "",
    }
    return render_template("console/admin/policy_edit.html", typed=typed, errors={})


@blueprint.post("/field-policies/edit")
@signed.role_required(Role.ADMIN, component=False)
def save_policy() -> Response:
    typed = {name: request.form.get(name, "").strip() for name in ("field", *GRANT_KINDS)}
    errors: dict[str, str] = {}
    lists: dict[str, list[pb.Grant]] = {}
    for kind in GRANT_KINDS:
        lists[kind], problem = _parse_grants(typed[kind])
        if problem:
            errors[kind] = problem
    if not errors:
        policy = pb.FieldPolicy(field=typed["field"], **lists)
        try:
            _call(upstream().contacts.SetFieldPolicy, pb.SetFieldPolicyRequest(policy=policy))
        except InvalidArgument as error:
            errors = _policy_errors(error)
        else:
            target = url_for("console.admin.policy_history", field=typed["field"], saved=1)
            return redirect(target, 303)
    html = render_template("console/admin/policy_edit.html", typed=typed, errors=errors)
    return Response(html, 400, mimetype="text/html")


def _grant_line(grant: pb.Grant) -> str:
    """A grant in the edit form's words (the inverse of `_parse_grants`)."""
    audience = _AUDIENCE_WORDS.get(grant.audience, "owner")
    words = [f"components={','.join(grant.components)}" if audience == "components" else audience]
    for word, attribute in _CONDITIONS.items():
        if getattr(grant, attribute):
            words.append(f"{word}={getattr(grant, attribute)}")
    return " ".join(words)


def _parse_grants(text: str) -> tuple[list[pb.Grant], str]:
    """The grants of a textarea, one a line; or the first problem, in words."""
    grants: list[pb.Grant] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        grant = pb.Grant()
        for word in words:
            name, _, value = word.partition("=")
            if name in _GRANT_AUDIENCES and not value and not grant.audience:
                grant.audience = _GRANT_AUDIENCES[name]
            elif name == "components" and value and not grant.audience:
                grant.audience = pb.AUDIENCE_COMPONENTS
                grant.components.extend(v for v in value.split(",") if v)
            elif name in _CONDITIONS and value:
                setattr(grant, _CONDITIONS[name], value)
            else:
                problem = i18n.translate("admin.pol.bad_word", word=word)
                return [], i18n.translate("admin.pol.bad_line", line=number, problem=problem)
        grants.append(grant)
    return grants, ""


def _policy_errors(error: InvalidArgument) -> dict[str, str]:
    """SetFieldPolicy's violations by form field: `policy.read[2].service` is line 3 of read."""
    errors: dict[str, str] = {}
    for violation in error.violations:
        path = violation.field.removeprefix("policy.")
        kind, _, rest = path.partition("[")
        if kind in GRANT_KINDS and rest:
            index, _, attribute = rest.partition("]")
            problem = f"{attribute.lstrip('.')}: {violation.description}"
            line = int(index) + 1 if index.isdigit() else 0
            message = i18n.translate("admin.pol.bad_line", line=line, problem=problem)
            errors.setdefault(kind, message)
        else:
            errors.setdefault("field", f"{violation.field}: {violation.description}")
    return errors or {"field": str(error)}
