"""The pressure a contact is under (slots used and free per rule, next allowed send), as a
panel the contact page embeds (placeholder until campaigns answers it)."""

from __future__ import annotations

from markupsafe import Markup


def panel(contact_id: str) -> Markup:
    """The panel's HTML for `contact_id`, as the signed-in user may see it."""
    del contact_id
    return Markup("")
