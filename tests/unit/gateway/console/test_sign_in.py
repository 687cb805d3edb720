"""Signing in to the console: OIDC code flow with PKCE, the development sign-in (embedded
defaults only), session cookies, CSRF on every form, and the headers of every page."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
import urllib.parse
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.dev.up import Ports
from services.gateway.console import session as signed
from services.gateway.settings import GatewaySettings
from tests.support.console import fetch, person
from tests.support.oidc import TestProvider
from tests.unit.gateway.console.conftest import BASE, csrf_of, get, post


def sign_in(client: FlaskClient, provider: TestProvider, claims: dict[str, object]) -> str:
    """The whole OIDC sign-in through the test client; returns the provider URL it used."""
    provider.login_as(**claims)
    started = get(client, "/console/login/sso")
    assert started.status_code == 302
    to_provider = started.headers["Location"]
    back = fetch(to_provider)
    assert back.status == 302
    callback = urllib.parse.urlsplit(back.location)
    landed = get(client, f"{callback.path}?{callback.query}")
    assert landed.status_code == 302, landed.get_data(as_text=True)
    assert landed.headers["Location"].endswith("/console/")
    return to_provider


def test_oidc_sign_in_uses_pkce_and_opens_a_session(
    browser: FlaskClient, provider: TestProvider
) -> None:
    to_provider = sign_in(
        browser, provider, person("sciences", "campaign_manager", email="a@u.example")
    )
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(to_provider).query))
    assert query["code_challenge_method"] == "S256"
    assert query["response_type"] == "code"
    verifier = provider.exchanges[-1]["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert digest.decode() == query["code_challenge"]
    home = get(browser, "/console/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "a@u.example" in page and "sciences" in page


def test_a_callback_with_another_state_is_refused(
    browser: FlaskClient, provider: TestProvider
) -> None:
    provider.login_as(**person("sciences", "viewer"))
    started = get(browser, "/console/login/sso")
    back = fetch(started.headers["Location"])
    parts = urllib.parse.urlsplit(back.location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query["state"] = "forged-" + query["state"]
    refused = get(browser, f"{parts.path}?{urllib.parse.urlencode(query)}")
    assert refused.status_code == 401
    assert get(browser, "/console/").status_code == 302  # still signed out


def test_a_code_works_once(make_app: Callable[..., Flask], provider: TestProvider) -> None:
    first, second = make_app().test_client(), make_app().test_client()
    provider.login_as(**person("sciences", "viewer"))
    back = fetch(fetch_location(get(first, "/console/login/sso")))
    parts = urllib.parse.urlsplit(back.location)
    assert get(first, f"{parts.path}?{parts.query}").status_code == 302
    # Another browser replaying the same answer has no sign-in in progress.
    assert get(second, f"{parts.path}?{parts.query}").status_code == 401


def fetch_location(response: object) -> str:
    return str(response.headers["Location"])  # type: ignore[attr-defined]


def test_the_development_sign_in_does_not_exist_unless_turned_on(
    make_app: Callable[..., Flask],
) -> None:
    off = make_app().test_client()
    page = get(off, "/console/login").get_data(as_text=True)
    assert 'id="dev-login"' not in page
    with off.session_transaction("/console/", base_url=BASE) as kept:
        kept["csrf"] = "a-valid-token"  # even a well-formed post finds no such route
    form = {"csrf_token": "a-valid-token", "role": "admin", "subject": "mallory"}
    assert post(off, "/console/login/dev", form).status_code == 404
    assert get(off, "/console/").status_code == 302  # nobody signed in

    on = make_app(console_dev_login=True).test_client()
    page = get(on, "/console/login").get_data(as_text=True)
    assert 'id="dev-login"' in page
    form = {"csrf_token": csrf_of(page), "role": "dpo", "subject": "dev-dpo", "component": ""}
    assert post(on, "/console/login/dev", form).status_code == 302
    assert "dev-dpo" in get(on, "/console/").get_data(as_text=True)


def test_the_development_sign_in_needs_development_tokens(settings: GatewaySettings) -> None:
    values = settings.model_dump() | {"console_dev_login": True, "jwt_public_key_file": ""}
    with pytest.raises(ValidationError, match="development tokens"):
        GatewaySettings(**values)


def test_crm_up_and_nothing_else_turns_the_development_sign_in_on() -> None:
    assert Ports().env()["GATEWAY_CONSOLE_DEV_LOGIN"] == "true"
    assert GatewaySettings.model_fields["console_dev_login"].default is False


def test_the_development_sign_in_refuses_the_service_role(make_app: Callable[..., Flask]) -> None:
    client = make_app(console_dev_login=True).test_client()
    token = csrf_of(get(client, "/console/login").get_data(as_text=True))
    refused = post(client, "/console/login/dev", {"csrf_token": token, "role": "service"})
    assert refused.status_code == 401
    assert get(client, "/console/").status_code == 302


def test_the_session_cookie_is_httponly_secure_lax_and_scoped(
    browser: FlaskClient, provider: TestProvider
) -> None:
    provider.login_as(**person("sciences", "viewer"))
    back = fetch(get(browser, "/console/login/sso").headers["Location"])
    callback = urllib.parse.urlsplit(back.location)
    response = get(browser, f"{callback.path}?{callback.query}")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/console"):
        assert attribute in cookie


def test_every_console_page_has_a_strict_content_security_policy(browser: FlaskClient) -> None:
    for path in ("/console/login", "/console/no-such-page"):
        response = get(browser, path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
    missing = get(browser, "/console/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert get(browser, "/v1/no-such-route").mimetype == "application/problem+json"


def test_a_form_posted_without_its_token_is_refused_and_changes_nothing(
    browser: FlaskClient, provider: TestProvider
) -> None:
    sign_in(browser, provider, person("sciences", "viewer", email="v@u.example"))
    for form in ({}, {"csrf_token": "not-the-token"}):
        refused = post(browser, "/console/logout", form)
        assert refused.status_code == 400
        assert "rien n&#39;a été modifié" in refused.get_data(as_text=True)
        assert "v@u.example" in get(browser, "/console/").get_data(as_text=True)  # still in
    token = csrf_of(get(browser, "/console/").get_data(as_text=True))
    assert post(browser, "/console/logout", {"csrf_token": token}).status_code == 302
    assert get(browser, "/console/").status_code == 302


def test_signing_out_ends_the_console_session_and_offers_to_end_the_providers(
    browser: FlaskClient, provider: TestProvider
) -> None:
    sign_in(browser, provider, person("sciences", "viewer", email="v@u.example"))
    token = csrf_of(get(browser, "/console/?lang=en").get_data(as_text=True))
    out = post(browser, "/console/logout", {"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"].endswith("?signed_out=1")
    page = get(browser, out.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "You are signed out of the console." in page and "v@u.example" not in page
    link = html.unescape(re.search(r'id="sso-logout" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    parts = urllib.parse.urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}".startswith(provider.issuer)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query == {
        "client_id": "crm-console",
        "post_logout_redirect_uri": f"{BASE}/console/login",
    }
    assert fetch(link).location == query["post_logout_redirect_uri"]  # the provider sends back
    assert provider.logouts == [query]
    assert get(browser, "/console/").status_code == 302  # and the console session is gone


def test_without_a_provider_logout_endpoint_signing_out_offers_no_link(
    make_app: Callable[..., Flask],
) -> None:
    on = make_app(console_oidc_issuer="", console_dev_login=True).test_client()
    page = get(on, "/console/login?signed_out=1&lang=en").get_data(as_text=True)
    assert "You are signed out of the console." in page and 'id="sso-logout"' not in page


def test_a_tampered_session_cookie_is_no_session(
    browser: FlaskClient, provider: TestProvider
) -> None:
    sign_in(browser, provider, person("sciences", "viewer"))
    cookie = browser.get_cookie("crm_console", domain="localhost", path="/console")
    assert cookie is not None
    browser.set_cookie("crm_console", cookie.value[:-2] + "xx", domain="localhost", path="/console")
    assert get(browser, "/console/").status_code == 302


def test_language_follows_the_choice_then_the_browser(browser: FlaskClient) -> None:
    assert "Connexion" in get(browser, "/console/login").get_data(as_text=True)
    english = get(browser, "/console/login", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert "Sign in" in english.get_data(as_text=True)
    chosen = get(browser, "/console/login?lang=en")
    assert '<html lang="en">' in chosen.get_data(as_text=True)
    assert '<html lang="en">' in get(browser, "/console/login").get_data(as_text=True)


@given(st.text(max_size=60))
def test_where_to_go_after_signing_in_is_always_a_console_path(target: str) -> None:
    app = Flask(__name__)
    app.add_url_rule("/console/", "console.home", lambda: "")
    with app.test_request_context("/"):
        chosen = signed.safe_next(target)
    parts = urllib.parse.urlsplit(chosen)
    assert not parts.scheme and not parts.netloc
    assert chosen.startswith("/console/") and not chosen.startswith("//")


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/v1/contacts", "/\\evil"]
)
def test_foreign_targets_go_home(target: str) -> None:
    app = Flask(__name__)
    app.add_url_rule("/console/", "console.home", lambda: "")
    with app.test_request_context("/"):
        assert signed.safe_next(target) == "/console/"
    assert BASE.startswith("https")


def expired_token(provider: TestProvider) -> str:
    now = int(time.time())
    claims = person("sciences", "viewer", email="late@u.example")
    return provider.token(iat=now - 3600, exp=now - 600, **claims)


def test_a_lapsed_access_token_is_renewed_with_the_refresh_token(
    browser: FlaskClient, provider: TestProvider
) -> None:
    sign_in(browser, provider, person("sciences", "viewer", email="late@u.example"))
    with browser.session_transaction("/console/", base_url=BASE) as kept:
        kept["token"] = expired_token(provider)
        lapsed = kept["token"]
    page = get(browser, "/console/")
    assert page.status_code == 200 and "late@u.example" in page.get_data(as_text=True)
    assert provider.exchanges[-1]["grant_type"] == "refresh_token"
    with browser.session_transaction("/console/", base_url=BASE) as kept:
        assert kept["token"] != lapsed


def test_a_lapsed_token_without_a_working_refresh_sends_to_sign_in(
    browser: FlaskClient, provider: TestProvider
) -> None:
    sign_in(browser, provider, person("sciences", "viewer"))
    provider.refresh_tokens.clear()  # the provider ended the SSO session
    with browser.session_transaction("/console/", base_url=BASE) as kept:
        kept["token"] = expired_token(provider)
    page = get(browser, "/console/campaigns/")
    assert page.status_code == 302
    location = page.headers["Location"]
    parts = urllib.parse.urlsplit(location)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert parts.path == "/console/login"
    assert query == {"next": "/console/campaigns/", "expired": "1"}
    assert get(browser, "/console/").status_code == 302  # the session is gone


def test_the_development_sign_in_gives_every_role_ticked(make_app: Callable[..., Flask]) -> None:
    client = make_app(console_dev_login=True).test_client()
    page = get(client, "/console/login?lang=en").get_data(as_text=True)
    assert 'name="role" value="contact_editor" checked' in page
    assert 'value="service"' not in page
    form = {"csrf_token": csrf_of(page), "role": ["campaign_manager", "contact_editor"]}
    assert post(client, "/console/login/dev", form).status_code == 302
    home = get(client, "/console/").get_data(as_text=True)
    assert "Campaign manager, Contact editor" in home
