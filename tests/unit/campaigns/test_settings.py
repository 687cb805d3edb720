"""Campaigns refuses to put a non-https unsubscribe link in mail leaving this machine."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.campaigns.settings import CampaignsSettings


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.univ.example",
        "https://crm.univ.example/",
        "http://127.0.0.1:8080",
        "http://localhost:8080",
    ],
)
def test_https_or_local_links_are_accepted(url: str) -> None:
    settings = CampaignsSettings(public_base_url=url, unsubscribe_secret="s")
    assert settings.public_base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://crm.univ.example", "ftp://crm.univ.example", "crm.univ.example", ""]
)
def test_other_links_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="https"):
        CampaignsSettings(public_base_url=url, unsubscribe_secret="s")


def test_transactional_roles_are_read_comma_separated_and_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert CampaignsSettings(unsubscribe_secret="s").transactional_roles == frozenset()
    monkeypatch.setenv("CAMPAIGNS_TRANSACTIONAL_ROLES", "dpo, campaign_manager")
    assert CampaignsSettings(unsubscribe_secret="s").transactional_roles == {
        "dpo",
        "campaign_manager",
    }
    monkeypatch.setenv("CAMPAIGNS_TRANSACTIONAL_ROLES", "dpo,overlord")
    with pytest.raises(ValidationError):
        CampaignsSettings(unsubscribe_secret="s")
