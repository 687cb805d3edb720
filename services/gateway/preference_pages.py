"""The preference page a person reaches from the signed link in every mail (French, English).

Plain HTML forms, no JavaScript: one checkbox per purpose, channel and scope
(the whole grouping first, then each component), with the boxes it shows
ticked repeated as hidden `shown` fields (so a save applies what the person
changed, see preference_form.changes), the notice text of each
purpose one click away, and a separate form for "nothing more from the whole
university" (an Art. 21 objection). It names purposes and components only,
never the person: the link may be opened by someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from flask import Response, render_template_string
from markupsafe import Markup

from services.gateway.pages import secured
from services.gateway.preference_form import GROUPING, Choice

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")

_WORDS: Mapping[str, Mapping[Language, str]] = {
    "title": {"fr": "Vos préférences", "en": "Your preferences"},
    "intro": {
        "fr": "Choisissez ce que vous acceptez de recevoir. Décocher une case suffit à "
        "ne plus rien recevoir pour ce sujet.",
        "en": "Choose what you agree to receive. Unticking a box is enough to receive "
        "nothing more about that subject.",
    },
    "grouping": {"fr": "Toute l'université", "en": "The whole university"},
    "save": {"fr": "Enregistrer mes choix", "en": "Save my choices"},
    "notice": {"fr": "Ce que nous en faisons", "en": "What we do with it"},
    "object_title": {"fr": "Ne plus rien recevoir", "en": "Nothing more"},
    "object_text": {
        "fr": "Vous pouvez vous opposer à toute prospection de la part de l'université et "
        "de toutes ses composantes, pour tous les sujets.",
        "en": "You may object to all marketing from the university and every one of its "
        "components, about every subject.",
    },
    "object": {
        "fr": "Ne plus rien recevoir de toute l'université",
        "en": "Nothing more from the whole university",
    },
    "objected": {
        "fr": "Vous vous êtes opposé(e) à toute prospection. Cochez un sujet pour en "
        "recevoir de nouveau.",
        "en": "You objected to all marketing. Tick a subject to receive it again.",
    },
    "saved": {"fr": "Vos choix sont enregistrés.", "en": "Your choices are saved."},
    "objection_saved": {
        "fr": "Votre opposition est enregistrée : plus aucune prospection ne vous sera "
        "adressée par l'université.",
        "en": "Your objection is recorded: the university will send you no more marketing.",
    },
    "back": {"fr": "Revenir à mes préférences", "en": "Back to my preferences"},
    "no_notice": {
        "fr": "Pas d'abonnement possible ici pour l'instant : le texte qui explique ce que "
        "nous en faisons n'est pas encore publié.",
        "en": "Cannot be subscribed to here yet: the text that explains what we do with it "
        "is not published yet.",
    },
    "not_found": {
        "fr": "Ce lien n'est pas valide. Utilisez le lien du dernier message que vous avez reçu.",
        "en": "This link is not valid. Use the link in the latest message you received.",
    },
    "expired": {
        "fr": "Ce lien a expiré. Le prochain message que vous recevrez en contiendra un nouveau.",
        "en": "This link has expired. The next message you receive will carry a new one.",
    },
    "unavailable": {
        "fr": "Le service est momentanément indisponible : rien n'a été enregistré. "
        "Réessayez dans quelques minutes.",
        "en": "The service is unavailable for a moment: nothing was recorded. "
        "Please try again in a few minutes.",
    },
    "other": {"fr": "English", "en": "Français"},
    "email": {"fr": "courriel", "en": "email"},
    "sms": {"fr": "SMS", "en": "text message"},
    "phone": {"fr": "téléphone", "en": "phone"},
    "post": {"fr": "courrier", "en": "post"},
}


@dataclass(frozen=True)
class PurposeInfo:
    """A purpose as the page shows it: its labels and the notice a grant refers to."""

    key: str
    labels: Mapping[str, str]  # by language
    notice_text: str | None
    notice_id: str | None = None  # the version shown, recorded with every grant made here


@dataclass(frozen=True)
class PreferencesView:
    """Everything the page shows: what is offered, what is subscribed, and whether objected.

    `unavailable` are choices shown without a box: nothing may be granted there
    (the purpose has no published notice) and nothing is subscribed to withdraw.
    """

    purposes: tuple[PurposeInfo, ...]
    scope_names: Mapping[str, str]  # component id -> display name
    offered: tuple[Choice, ...]
    subscribed: frozenset[Choice]
    objected: bool
    unavailable: frozenset[Choice] = frozenset()


_PAGE = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ w.title }}</title>
<style>body{font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}
fieldset{margin:1rem 0}td,th{padding:.2rem .6rem;text-align:left}</style>
</head>
<body>
<p><a href="?lang={{ other }}" hreflang="{{ other }}">{{ w.other }}</a></p>
<h1>{{ w.title }}</h1>
{% if message %}<p role="status"><strong>{{ message }}</strong></p>{% endif %}
{% if objected %}<p>{{ w.objected }}</p>{% endif %}
<p>{{ w.intro }}</p>
<form method="post" action="?lang={{ lang }}">
<input type="hidden" name="shown" value="">
{% for key in shown %}<input type="hidden" name="shown" value="{{ key }}">
{% endfor %}
{% for scope in scopes %}
<fieldset><legend>{{ scope.name }}</legend>
<table>
{% for row in scope.rows %}
<tr><th scope="row">{{ row.label }}</th>
{% for box in row.boxes %}
<td><label><input type="checkbox" name="keep" value="{{ box.key }}"
{%- if box.checked %} checked{% endif %}> {{ box.channel }}</label></td>
{% endfor %}
{% for channel in row.closed %}<td>{{ channel }}</td>{% endfor %}
</tr>
{% if row.closed %}<tr><td colspan="5"><small>{{ w.no_notice }}</small></td></tr>{% endif %}
{% if row.notice %}<tr><td colspan="5"><details><summary>{{ w.notice }}</summary>
<p>{{ row.notice }}</p></details></td></tr>{% endif %}
{% endfor %}
</table>
</fieldset>
{% endfor %}
<button type="submit">{{ w.save }}</button>
</form>
<h2>{{ w.object_title }}</h2>
<p>{{ w.object_text }}</p>
<form method="post" action="{{ objection_url }}?lang={{ lang }}">
<button type="submit" name="object" value="yes">{{ w.object }}</button>
</form>
</body>
</html>
"""

_DONE = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ w.title }}</title></head>
<body><h1>{{ w.title }}</h1><p role="status">{{ message }}</p>
<p><a href="{{ back_url }}?lang={{ lang }}">{{ w.back }}</a></p></body>
</html>
"""

_ERROR = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ w.title }}</title></head>
<body><h1>{{ w.title }}</h1><p role="alert">{{ message }}</p></body>
</html>
"""


def words(lang: Language) -> dict[str, str]:
    """Every phrase of the page in one language."""
    return {key: phrases[lang] for key, phrases in _WORDS.items()}


def preferences_page(
    view: PreferencesView, lang: Language, objection_url: str, message: str = ""
) -> Response:
    """The page itself; `message` says what the last form recorded."""
    w = words(lang)
    labels = {p.key: p.labels.get(lang) or p.key for p in view.purposes}
    notices = {p.key: p.notice_text for p in view.purposes}
    scopes = []
    for scope in _scopes_in_order(view):
        rows = []
        for purpose in [p.key for p in view.purposes]:
            boxes = [
                {
                    "key": c.key,
                    "channel": w.get(c.channel, c.channel),
                    "checked": c in view.subscribed,
                }
                for c in view.offered
                if c.scope == scope and c.purpose == purpose
            ]
            closed = [
                w.get(c.channel, c.channel)
                for c in sorted(view.unavailable)
                if c.scope == scope and c.purpose == purpose
            ]
            if boxes or closed:
                rows.append(
                    {
                        "label": labels[purpose],
                        "boxes": boxes,
                        "closed": closed,
                        "notice": notices[purpose],
                    }
                )
        name = w["grouping"] if scope == GROUPING else view.scope_names.get(scope, scope)
        scopes.append({"name": name, "rows": rows})
    html = render_template_string(
        _PAGE,
        lang=lang,
        other="en" if lang == "fr" else "fr",
        w=w,
        scopes=scopes,
        objected=view.objected,
        message=message,
        objection_url=objection_url,
        shown=sorted(c.key for c in view.offered if c in view.subscribed),
    )
    return secured(Response(html, 200, mimetype="text/html"))


def done_page(lang: Language, message_key: str, back_url: str) -> Response:
    """Says what was recorded, with a way back to the preferences."""
    w = words(lang)
    html = render_template_string(
        _DONE, lang=lang, w=w, message=Markup.escape(w[message_key]), back_url=back_url
    )
    return secured(Response(html, 200, mimetype="text/html"))


def error_page(lang: Language, message_key: str, status: int) -> Response:
    """A link that opens nothing (404), has expired (410), or a service away (503)."""
    w = words(lang)
    html = render_template_string(_ERROR, lang=lang, w=w, message=w[message_key])
    return secured(Response(html, status, mimetype="text/html"))


def _scopes_in_order(view: PreferencesView) -> list[str]:
    """The whole grouping first, then components by display name."""
    components = {c.scope for c in (*view.offered, *view.unavailable) if not c.is_grouping}
    ordered = sorted(components, key=lambda s: (view.scope_names.get(s, s).lower(), s))
    return [GROUPING, *ordered]
