"""The pages behind the links of consent's own mails: confirm a subscription, renew one.

French then English on one page, plain HTML with a form (no JavaScript): the GET
that shows the page changes nothing (mail scanners prefetch links), the button
posts. They name nothing about the person: the link may be opened by another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from flask import Response, render_template_string

from services.gateway.pages import framed

Act = Literal["confirm", "revalidate"]
Outcome = Literal["ask", "done", "not_found", "expired", "changed", "unavailable"]

_TEXT: Mapping[Outcome, Mapping[Act, tuple[str, str, str]]] = {
    "ask": {
        "confirm": (
            "Confirmer votre inscription / Confirm your subscription",
            "Pour confirmer que vous souhaitez recevoir ces messages, appuyez sur le bouton.",
            "To confirm that you want to receive these messages, press the button.",
        ),
        "revalidate": (
            "Continuer à recevoir nos messages / Keep receiving our messages",
            "Pour continuer à recevoir ces messages, appuyez sur le bouton. Sans réponse, "
            "nous cesserons de vous les envoyer.",
            "To keep receiving these messages, press the button. Without an answer, we "
            "will stop sending them.",
        ),
    },
    "done": {
        "confirm": (
            "Inscription confirmée / Subscription confirmed",
            "Merci : votre inscription est confirmée.",
            "Thank you: your subscription is confirmed.",
        ),
        "revalidate": (
            "Choix enregistré / Choice recorded",
            "Merci : vous continuerez à recevoir ces messages.",
            "Thank you: you will keep receiving these messages.",
        ),
    },
}
_PROBLEM: Mapping[Outcome, tuple[int, str, str, str]] = {
    "not_found": (
        404,
        "Lien inconnu / Unknown link",
        "Ce lien est inconnu ou a été modifié. Rien n'a été enregistré.",
        "This link is unknown or was altered. Nothing was recorded.",
    ),
    "expired": (
        410,
        "Lien expiré / Expired link",
        "Ce lien a expiré. Rien n'a été enregistré ; vous pouvez refaire votre demande.",
        "This link has expired. Nothing was recorded; you may ask again.",
    ),
    "changed": (
        410,
        "Lien dépassé / Outdated link",
        "Vos choix ont changé depuis l'envoi de ce message : ce lien ne vaut plus. Rien "
        "n'a été enregistré.",
        "Your choices changed since this message was sent: this link no longer applies. "
        "Nothing was recorded.",
    ),
    "unavailable": (
        503,
        "Service indisponible / Service unavailable",
        "Votre choix n'a pas pu être enregistré pour l'instant. Réessayez dans un moment.",
        "Your choice could not be recorded yet. Please try again in a moment.",
    ),
}

_CONTENT = """<p>{{ french }}</p>
<p lang="en">{{ english }}</p>
{% if receipt_url %}<p><a href="{{ receipt_url }}">Votre reçu de consentement (JSON signé) /
<span lang="en">your consent receipt (signed JSON)</span></a></p>{% endif %}
{% if form %}<form method="post">
<input type="hidden" name="confirm" value="yes">
<button type="submit">{{ button }}</button>
</form>{% endif %}
"""
_BUTTONS: Mapping[Act, str] = {
    "confirm": "Je confirme / I confirm",
    "revalidate": "Je continue / Keep me subscribed",
}


def page(act: Act, outcome: Outcome, receipt_url: str = "") -> Response:
    """The page for one act and what became of it (a form when `ask`, a receipt link when
    a confirmation is done)."""
    if outcome in _TEXT:
        title, french, english = _TEXT[outcome][act]
        status = 200
    else:
        status, title, french, english = _PROBLEM[outcome]
    content = render_template_string(
        _CONTENT,
        french=french,
        english=english,
        form=outcome == "ask",
        button=_BUTTONS[act],
        receipt_url=receipt_url if outcome == "done" else "",
    )
    return framed(title, content, status)
