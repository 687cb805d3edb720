"""The words of the contacts area (search and contact page), in French and English.

Enum words the services return (a decision, a channel, an event kind...) are
translated when the catalogue knows them and shown as sent otherwise, so a word
added to a service later still shows, never a raw message key.
"""

from __future__ import annotations

from meshkit.fields import CORE
from services.gateway.console import i18n

MESSAGES = {
    # Search
    "contacts.search.title": ("Rechercher des contacts", "Search contacts"),
    "contacts.search.legend": ("Critères", "Criteria"),
    "contacts.search.kind": ("Type de contact", "Kind of contact"),
    "contacts.search.updated_since": ("Modifiés depuis le", "Changed since"),
    "contacts.search.member_of": ("Composante", "Component"),
    "contacts.search.member_of_help": (
        "Votre compte n'est rattaché à aucune composante : choisissez celle dont vous "
        "cherchez les contacts.",
        "Your account belongs to no component: pick the one whose contacts you search.",
    ),
    "contacts.search.condition": ("Condition {n}", "Condition {n}"),
    "contacts.search.field": ("Champ (identifiant)", "Field (id)"),
    "contacts.search.field_help": (
        "Par exemple last_name, email ou sciences.promo. Un champ que vous ne pouvez pas "
        "lire est refusé comme un champ inconnu.",
        "For example last_name, email or sciences.promo. A field you may not read is "
        "refused like an unknown one.",
    ),
    "contacts.search.more": ("Plus de conditions", "More conditions"),
    "contacts.search.equals": ("Égal à", "Equals"),
    "contacts.search.min": ("Au moins", "At least"),
    "contacts.search.max": ("Au plus", "At most"),
    "contacts.search.range_help": (
        "« Égal à », ou bien une borne ou deux pour un nombre ou une date (AAAA-MM-JJ).",
        "“Equals”, or one or two bounds for a number or a date (YYYY-MM-DD).",
    ),
    "contacts.search.submit": ("Rechercher", "Search"),
    "contacts.search.reset": ("Effacer les critères", "Clear the criteria"),
    "contacts.search.results": ("Résultats", "Results"),
    "contacts.search.count": (
        "{count} contact(s) sur cette page.",
        "{count} contact(s) on this page.",
    ),
    "contacts.search.none": ("Aucun contact ne correspond.", "No contact matches."),
    "contacts.search.caption": ("Contacts trouvés", "Contacts found"),
    "contacts.search.next": ("Contacts suivants", "Next contacts"),
    "contacts.search.pages": ("Pages de résultats", "Result pages"),
    "contacts.search.bad_date": (
        "doit être une date AAAA-MM-JJ",
        "must be a date YYYY-MM-DD",
    ),
    "contacts.search.bad_condition": (
        "donnez « Égal à », ou bien « Au moins » et/ou « Au plus »",
        "give “Equals”, or “At least” and/or “At most”",
    ),
    "contacts.col.name": ("Nom", "Name"),
    "contacts.col.kind": ("Type", "Kind"),
    "contacts.col.email": ("Courriel", "Email"),
    "contacts.col.components": ("Composantes membres", "Member components"),
    "contacts.unnamed": ("Contact sans nom visible", "Contact with no visible name"),
    "contacts.kind.any": ("Tous", "Any"),
    "contacts.kind.person": ("Personne", "Person"),
    "contacts.kind.company": ("Entreprise", "Company"),
    # The contact page
    "contacts.contact.title": ("Contact", "Contact"),
    "contacts.contact.back": ("Retour à la recherche", "Back to the search"),
    "contacts.contact.summary": ("Fiche", "Record"),
    "contacts.contact.id": ("Identifiant", "Id"),
    "contacts.contact.kind": ("Type", "Kind"),
    "contacts.contact.members": ("Composantes membres", "Member components"),
    "contacts.contact.merged": (
        "L'identifiant demandé ({id}) a été fusionné dans ce contact.",
        "The id asked for ({id}) was merged into this contact.",
    ),
    "contacts.sections": ("Sections de la fiche", "Sections of the record"),
    "contacts.fields.title": ("Champs que vous pouvez voir", "Fields you may see"),
    "contacts.fields.caption": (
        "Valeurs visibles pour vous, avec la composante qui les détient",
        "Values you may see, with the component that holds each",
    ),
    "contacts.fields.field": ("Champ", "Field"),
    "contacts.fields.value": ("Valeur", "Value"),
    "contacts.fields.owner": ("Détenue par", "Held by"),
    "contacts.fields.none": ("Aucun champ visible.", "No visible field."),
    "contacts.field.display_name": ("Nom affiché", "Display name"),
    # Consent
    "contacts.consent.title": ("Consentement", "Consent"),
    "contacts.consent.state": (
        "État par finalité, canal et portée",
        "State per purpose, channel and scope",
    ),
    "contacts.consent.state_caption": (
        "État actuel du consentement",
        "Current consent state",
    ),
    "contacts.consent.state_none": (
        "Aucun état de consentement à afficher.",
        "No consent state to show.",
    ),
    "contacts.consent.purpose": ("Finalité", "Purpose"),
    "contacts.consent.channel": ("Canal", "Channel"),
    "contacts.consent.scope": ("Portée", "Scope"),
    "contacts.consent.decision": ("Statut", "Status"),
    "contacts.consent.allowed": ("Envoi permis", "May send"),
    "contacts.consent.basis": ("Base légale", "Legal basis"),
    "contacts.consent.event": ("Événement décisif", "Deciding event"),
    "contacts.consent.yes": ("Oui", "Yes"),
    "contacts.consent.no": ("Non", "No"),
    "contacts.consent.history": ("Historique", "History"),
    "contacts.consent.history_caption": (
        "Événements de consentement, du plus ancien au plus récent",
        "Consent events, oldest first",
    ),
    "contacts.consent.history_none": ("Aucun événement enregistré.", "No event recorded."),
    "contacts.consent.date": ("Date", "Date"),
    "contacts.consent.kind": ("Événement", "Event"),
    "contacts.consent.source": ("Source", "Source"),
    "contacts.consent.component": ("Composante", "Component"),
    "contacts.consent.event_id": ("Identifiant de l'événement", "Event id"),
    "contacts.consent.pending": ("en attente de confirmation", "awaiting confirmation"),
    "contacts.consent.receipt_help": (
        "Le reçu signé d'un consentement se retrouve par l'identifiant de son événement "
        "(espace protection des données, ou l'API /v1/consent/receipts/<identifiant>).",
        "A consent's signed receipt is found by its event id (data-protection area, or "
        "the API /v1/consent/receipts/<id>).",
    ),
    "contacts.consent.next": ("Événements suivants", "Next events"),
    "contacts.consent.first": ("Premiers événements", "First events"),
    "contacts.consent.pages": ("Pages de l'historique", "History pages"),
    "contacts.scope.grouping": ("Tout le groupement", "Whole grouping"),
    "contacts.scope.component": ("Composante {id}", "Component {id}"),
    "contacts.channel.all": ("Tous les canaux", "Every channel"),
    "contacts.purpose.all": ("Toute prospection", "All marketing"),
    "contacts.channel.email": ("Courriel", "Email"),
    "contacts.channel.sms": ("SMS", "SMS"),
    "contacts.channel.phone": ("Téléphone", "Phone"),
    "contacts.channel.post": ("Courrier", "Post"),
    "contacts.channel.meeting": ("Rendez-vous", "Meeting"),
    "contacts.channel.event": ("Événement", "Event"),
    "contacts.channel.other": ("Autre", "Other"),
    "contacts.decision.consent_given": ("Consentement donné", "Consent given"),
    "contacts.decision.legitimate_interest": ("Intérêt légitime", "Legitimate interest"),
    "contacts.decision.no_consent": ("Pas de consentement", "No consent"),
    "contacts.decision.withdrawn": ("Retiré", "Withdrawn"),
    "contacts.decision.denied": ("Refusé", "Denied"),
    "contacts.decision.objected": ("Opposition", "Objected"),
    "contacts.decision.expired": ("Expiré", "Expired"),
    "contacts.decision.pending": ("En attente", "Pending"),
    "contacts.decision.contract": ("Contrat", "Contract"),
    "contacts.decision.legal_obligation": ("Obligation légale", "Legal obligation"),
    "contacts.decision.suppressed": ("Adresse bloquée", "Address suppressed"),
    "contacts.event.granted": ("Accordé", "Granted"),
    "contacts.event.denied": ("Refusé", "Denied"),
    "contacts.event.withdrawn": ("Retiré", "Withdrawn"),
    "contacts.event.objected": ("Opposition", "Objected"),
    "contacts.event.expired": ("Expiré", "Expired"),
    "contacts.event.revalidated": ("Renouvelé", "Revalidated"),
    "contacts.event.confirmed": ("Confirmé", "Confirmed"),
    "contacts.how.web_form": ("Formulaire web", "Web form"),
    "contacts.how.import": ("Import", "Import"),
    "contacts.how.one_click": ("Lien de désinscription", "Unsubscribe link"),
    "contacts.how.preference_page": ("Page de préférences", "Preference page"),
    "contacts.how.inbound_mail": ("Courriel reçu", "Inbound mail"),
    "contacts.how.phone_agent": ("Téléconseiller", "Phone agent"),
    "contacts.how.staff": ("Personnel", "Staff"),
    "contacts.how.revalidation_job": ("Renouvellement", "Revalidation"),
    "contacts.how.retention_job": ("Durée de conservation", "Retention"),
    "contacts.basis.consent": ("Consentement", "Consent"),
    "contacts.basis.legitimate_interest": ("Intérêt légitime", "Legitimate interest"),
    "contacts.basis.contract": ("Contrat", "Contract"),
    "contacts.basis.legal_obligation": ("Obligation légale", "Legal obligation"),
    # Interactions
    "contacts.interactions.title": (
        "Qui a contacté cette personne en {month}",
        "Who contacted this person in {month}",
    ),
    "contacts.interactions.month": ("Mois (AAAA-MM)", "Month (YYYY-MM)"),
    "contacts.interactions.show": ("Afficher ce mois", "Show this month"),
    "contacts.interactions.previous": ("Mois précédent", "Previous month"),
    "contacts.interactions.following": ("Mois suivant", "Following month"),
    "contacts.interactions.current": ("Ce mois-ci", "This month"),
    "contacts.interactions.months": ("Autres mois", "Other months"),
    "contacts.interactions.caption": (
        "Envois et interactions du mois, du plus récent au plus ancien",
        "Mailings and interactions of the month, newest first",
    ),
    "contacts.interactions.none": (
        "Personne n'a contacté cette personne ce mois-là.",
        "Nobody contacted this person that month.",
    ),
    "contacts.interactions.date": ("Date", "Date"),
    "contacts.interactions.component": ("Composante", "Component"),
    "contacts.interactions.channel": ("Canal", "Channel"),
    "contacts.interactions.purpose": ("Finalité", "Purpose"),
    "contacts.interactions.campaign": ("Campagne", "Campaign"),
    "contacts.interactions.content": ("Objet et contenu", "Subject and content"),
    "contacts.interactions.kind": ("Nature", "Kind"),
    "contacts.interactions.hidden": (
        "masqué : envoyé par une autre composante",
        "hidden: sent by another component",
    ),
    "contacts.interactions.kind.mailing": ("Envoi", "Mailing"),
    "contacts.interactions.kind.interaction": ("Interaction", "Interaction"),
    "contacts.interactions.next": ("Entrées suivantes", "Next entries"),
    "contacts.interactions.first": ("Premières entrées", "First entries"),
    "contacts.interactions.pages": ("Pages de l'historique des contacts", "Contact history pages"),
    "contacts.interactions.bad_month": (
        "doit être un mois AAAA-MM",
        "must be a month YYYY-MM",
    ),
}
i18n.register(MESSAGES)


def word(group: str, value: str | None) -> str:
    """The translated word for a service's `value` (`contacts.<group>.<value>`), else `value`."""
    if not value:
        return ""
    key = f"contacts.{group}.{value}"
    return i18n.translate(key) if i18n.known(key) else value


def field_label(name: str) -> str:
    """A core field's label in the page's language; an attribute shows its id."""
    core = CORE.get(name)
    if core is not None:
        return core.label_fr if i18n.language() == "fr" else core.label_en
    key = f"contacts.field.{name}"
    return i18n.translate(key) if i18n.known(key) else name


def scope(value: object) -> str:
    """A consent scope (responses.ConsentScope) in words."""
    if value is None:
        return ""
    if getattr(value, "grouping", None):
        return i18n.translate("contacts.scope.grouping")
    component = getattr(value, "component_id", None)
    return i18n.translate("contacts.scope.component", id=component) if component else ""
