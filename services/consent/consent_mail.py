"""The text of consent's own mails: a double opt-in confirmation, a revalidation (pure).

One plain-text message in French then English, subject included. It names the
purpose only (never the person: consent holds no name) and carries one signed
link whose page asks the person to press a button: following the link alone
changes nothing (mail scanners prefetch links).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.consent.outbox import OutboxKind

PATHS = {OutboxKind.CONFIRMATION: "confirm", OutboxKind.REVALIDATION: "revalidate"}


@dataclass(frozen=True)
class ConsentMail:
    subject: str
    text_body: str


def link_url(public_base_url: str, kind: OutboxKind, token: str) -> str:
    """`<base>/consent/confirm/<token>` or `<base>/consent/revalidate/<token>`."""
    return f"{public_base_url.rstrip('/')}/consent/{PATHS[kind]}/{token}"


def compose(kind: OutboxKind, label_fr: str, label_en: str, url: str) -> ConsentMail:
    """The FR + EN message of a confirmation or revalidation mail."""
    if kind is OutboxKind.CONFIRMATION:
        return ConsentMail(
            "Confirmez votre inscription / Confirm your subscription",
            f"Bonjour,\n\n"
            f"Vous avez demandé à recevoir « {label_fr} ». Pour le confirmer, ouvrez ce lien "
            f"et validez (il expire dans 7 jours) :\n{url}\n\n"
            f"Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : "
            f"vous ne recevrez rien.\n\n"
            f"---\n\n"
            f"Hello,\n\n"
            f"You asked to receive “{label_en}”. To confirm, open this link and press the "
            f"button (it expires in 7 days):\n{url}\n\n"
            f"If you did not ask for it, ignore this message: you will receive nothing.\n",
        )
    return ConsentMail(
        "Souhaitez-vous continuer à recevoir nos messages ? / Do you still want our messages?",
        f"Bonjour,\n\n"
        f"Vous recevez « {label_fr} ». Sans réponse de votre part d'ici un mois, nous "
        f"cesserons de vous l'envoyer. Pour continuer, ouvrez ce lien et validez :\n{url}\n\n"
        f"Pour ne plus rien recevoir, il suffit de ne pas répondre.\n\n"
        f"---\n\n"
        f"Hello,\n\n"
        f"You receive “{label_en}”. Without an answer within a month, we will stop sending "
        f"it. To keep receiving it, open this link and press the button:\n{url}\n\n"
        f"To receive nothing more, simply do not answer.\n",
    )
