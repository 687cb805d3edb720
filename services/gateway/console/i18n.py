"""French and English for the console: one catalogue, filled by each page module.

Every page module declares its own `MESSAGES` ({key: (french, english)}) and
registers them, so two areas never edit the same file. The language is the
one the user picked (`?lang=`, kept in the session), else the browser's
preferred one among French and English, else French.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import g, request, session

LANGUAGES = ("fr", "en")
DEFAULT = "fr"

_catalogue: dict[str, tuple[str, str]] = {}


def register(messages: Mapping[str, tuple[str, str]]) -> None:
    """Adds messages; a key registered twice with other words is a bug."""
    for key, words in messages.items():
        known = _catalogue.get(key)
        if known is not None and known != words:
            raise ValueError(f"console message {key!r} registered twice with other words")
        _catalogue[key] = words


def choose_language() -> str:
    """The language of the request being served (and remembers an explicit choice)."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    kept = session.get("lang")
    if kept in LANGUAGES:
        return str(kept)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def language() -> str:
    return str(g.get("lang") or DEFAULT)


def translate(key: str, **values: object) -> str:
    """The message `key` in the request's language, with `{name}` fields filled.

    An unknown key shows as itself, so a missing message is visible, never a crash.
    """
    words = _catalogue.get(key)
    if words is None:
        return key
    text = words[LANGUAGES.index(language())]
    return text.format(**values) if values else text


def known(key: str) -> bool:
    return key in _catalogue


MESSAGES = {
    "app.title": ("Console CRM", "CRM console"),
    "app.skip": ("Aller au contenu", "Skip to content"),
    "nav.label": ("Navigation principale", "Main navigation"),
    "nav.home": ("Accueil", "Home"),
    "nav.campaigns": ("Campagnes", "Campaigns"),
    "nav.contacts": ("Contacts", "Contacts"),
    "nav.privacy": ("Protection des données", "Data protection"),
    "nav.admin": ("Administration", "Administration"),
    "nav.language": ("Langue", "Language"),
    "nav.signed_in_as": ("Connecté : {who}", "Signed in: {who}"),
    "nav.logout": ("Se déconnecter", "Sign out"),
    "login.title": ("Connexion", "Sign in"),
    "login.sso": (
        "Se connecter avec le compte de l'université",
        "Sign in with the university account",
    ),
    "login.no_sso": (
        "Aucun fournisseur d'identité n'est configuré pour la console.",
        "No identity provider is configured for the console.",
    ),
    "login.dev.title": ("Connexion de développement", "Development sign-in"),
    "login.dev.help": (
        "Réservée aux réglages embarqués (crm up) : crée un jeton pour la composante "
        "et le rôle choisis.",
        "Embedded defaults only (crm up): mints a token for the chosen component and role.",
    ),
    "login.dev.subject": ("Identifiant", "User id"),
    "login.dev.email": ("Adresse électronique", "Email address"),
    "login.dev.component": ("Composante", "Component"),
    "login.dev.service": ("Service (facultatif)", "Service (optional)"),
    "login.dev.level": ("Niveau hiérarchique (facultatif)", "Hierarchy level (optional)"),
    "login.dev.roles": ("Rôles", "Roles"),
    "login.dev.submit": ("Se connecter", "Sign in"),
    "login.failed": ("La connexion a échoué : {reason}", "Sign-in failed: {reason}"),
    "login.signed_out": (
        "Vous êtes déconnecté de la console.",
        "You are signed out of the console.",
    ),
    "login.sso_logout": (
        "Vous déconnecter aussi de votre compte de l'établissement (authentification unique)",
        "Also sign out of your institution account (single sign-on)",
    ),
    "login.expired": (
        "Votre session a expiré, reconnectez-vous.",
        "Your session expired; sign in again.",
    ),
    "home.title": ("Accueil", "Home"),
    "home.welcome": ("Bienvenue, {who}.", "Welcome, {who}."),
    "home.component": ("Composante : {component}", "Component: {component}"),
    "home.roles": ("Rôles : {roles}", "Roles: {roles}"),
    "role.viewer": ("Lecteur", "Viewer"),
    "role.contact_editor": ("Éditeur de contacts", "Contact editor"),
    "role.campaign_manager": ("Gestionnaire de campagnes", "Campaign manager"),
    "role.dpo": ("Délégué à la protection des données", "Data-protection officer"),
    "role.communication": ("Communication du groupement", "Grouping communication"),
    "role.admin": ("Administrateur", "Administrator"),
    "error.title": ("Erreur", "Error"),
    "error.back": ("Retour à l'accueil", "Back to home"),
    "error.csrf": (
        "Le formulaire a expiré ou ne vient pas de cette console ; rien n'a été modifié.",
        "The form expired or did not come from this console; nothing was changed.",
    ),
    "error.not_found": ("Page introuvable.", "Page not found."),
    "error.internal": ("Une erreur inattendue s'est produite.", "An unexpected error occurred."),
    "form.errors": ("Le formulaire contient des erreurs :", "The form has errors:"),
    "pager.next": ("Page suivante", "Next page"),
    "pager.first": ("Première page", "First page"),
    "chart.empty": ("Aucune donnée", "No data"),
}
register(MESSAGES)
