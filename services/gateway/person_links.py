"""The one verifier of the signed links a person follows from a mail, for every public page.

Preference, confirmation, revalidation and receipt pages all read it here; it
shares the unsubscribe secret with campaigns and consent, which sign the links.
"""

from __future__ import annotations

from flask import Flask, current_app

from meshkit.links import PersonLinks

EXTENSION = "crm.gateway.person_links"


def install(app: Flask, links: PersonLinks) -> None:
    """Gives every public view the verifier of person links."""
    app.extensions[EXTENSION] = links


def links() -> PersonLinks:
    """The verifier installed on the running app."""
    verifier: PersonLinks = current_app.extensions[EXTENSION]
    return verifier
