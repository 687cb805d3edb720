"""The small HTML pages a person sees after following an unsubscribe link.

Rendered with Jinja autoescaping. They show the purpose only: never an address
or a name, since the link may be opened by someone who is not the recipient.
"""

from __future__ import annotations

from flask import Response, render_template_string
from markupsafe import Markup

_LAYOUT = """<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}</style>
</head>
<body>
<h1>{{ title }}</h1>
{{ content }}
</body>
</html>
"""

_CONFIRM = """<p>Vous ne recevrez plus de messages pour « {{ purpose }} » de la part des
composantes du regroupement.</p>
<p lang="en">You will no longer receive messages about “{{ purpose }}” from the grouping.</p>
<form method="post">
<input type="hidden" name="confirm" value="yes">
<button type="submit">Me désabonner / Unsubscribe</button>
</form>
"""

_DONE = """<p>Votre désabonnement de « {{ purpose }} » est enregistré.</p>
<p lang="en">Your unsubscription from “{{ purpose }}” is recorded.</p>
"""

# The token is in the URL: keep it out of caches, referrers and search engines.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def framed(title: str, content: str, status: int = 200) -> Response:
    """`content` (HTML already rendered and escaped) in the layout of every signed-link page."""
    html = render_template_string(_LAYOUT, title=title, content=Markup(content))
    return secured(Response(html, status, mimetype="text/html"))


def _page(title: str, body: str, purpose: str) -> Response:
    return framed(title, render_template_string(body, purpose=purpose))


def confirmation_page(purpose: str) -> Response:
    """Asks the person to confirm; the GET that shows it changes nothing."""
    return _page("Désabonnement / Unsubscribe", _CONFIRM, purpose)


def done_page(purpose: str) -> Response:
    """Tells the person the withdrawal is recorded."""
    return _page("Désabonnement enregistré / Unsubscribed", _DONE, purpose)


def secured(response: Response) -> Response:
    """Adds the headers every answer to a signed link needs (no cache, no referrer)."""
    response.headers.update(_HEADERS)
    return response
