"""The console against a hostile page and a careless hand: security headers on every answer (the pages', the
API's, the docs'), no sign-in from another site (login CSRF), signing out ends the session on the server (a
copied cookie stops working), and form values that are no numbers are the user's 422, never a 500."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.console.session import COOKIE, LOGIN_COOKIE
from gateway.headers import CONSOLE_POLICY
from tests.support.api import bearer
from tests.support.console import browser, login, org_key, sign_in
from tests.support.platform import Platform

__all__ = ["browser", "org_key"]


def test_every_answer_carries_the_security_headers(browser: httpx.Client, org_key: str) -> None:
    sign_in(browser, org_key)
    answers = {
        "console page": browser.get("/datasets"),
        "sign-in page": browser.get("/login"),
        "API answer": browser.get("/v1/orgs/me", headers=bearer(org_key)),
        "API error": browser.get("/v1/datasets/ds_00000000000000000000000000", headers=bearer(org_key)),
        "no key": browser.get("/v1/orgs/me"),
        "static file": browser.get("/static/console.css"),
        "docs": browser.get("/docs"),
    }
    for label, answer in answers.items():
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", label
        assert headers["referrer-policy"] == "no-referrer", label
        assert headers["x-frame-options"] == "DENY", label
        assert "frame-ancestors 'none'" in headers["content-security-policy"], label
        assert "strict-transport-security" not in headers, label  # plain HTTP here (local mode)
    assert answers["console page"].headers["content-security-policy"] == CONSOLE_POLICY
    assert "'unsafe-inline'" not in CONSOLE_POLICY and "script-src 'self';" in CONSOLE_POLICY
    assert answers["API answer"].headers["content-security-policy"].startswith("default-src 'none'")
    docs = answers["docs"].headers["content-security-policy"]
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+'", docs), docs  # its one inline script, by hash
    # The pages hold no inline script and no inline event handler for that policy to block.
    for path in ("/datasets", "/snapshots", "/models", "/deployments", "/keys", "/usage", "/login"):
        page = browser.get(path).text
        assert not re.search(r'<script(?![^>]*(\bsrc=|type="application/json"))', page), path
        assert not re.search(r"\son[a-z]+=", page), path


def test_a_sign_in_form_from_another_site_is_refused(platform: Platform, browser: httpx.Client, org_key: str) -> None:
    # The attack: a page elsewhere posts the attacker's key to /login, signing the victim into the attacker's
    # org. The victim's browser sends no login cookie with a cross-site POST (SameSite=Strict), nor can the
    # page know the token.
    forged = browser.post("/login", data={"api_key": org_key, "next": "/datasets"})
    assert forged.status_code == 403, forged.text
    assert COOKIE not in browser.cookies
    with httpx.Client(base_url=platform.gateway_url, follow_redirects=False) as attacker:
        attacker_page = attacker.get("/login").text
    token = re.search(r'name="login_token" value="([0-9a-f]{64})"', attacker_page)
    assert token is not None
    browser.get("/login")  # the victim has a login cookie of its own
    replayed = browser.post("/login", data={"api_key": org_key, "login_token": token.group(1)})
    assert replayed.status_code == 403  # another browser's token is not this one's
    assert COOKIE not in browser.cookies
    signed_in = login(browser, org_key)
    assert signed_in.status_code == 303
    assert LOGIN_COOKIE not in browser.cookies  # used up


def test_signing_out_ends_the_session_for_a_copied_cookie_too(
    platform: Platform, browser: httpx.Client, org_key: str
) -> None:
    token = sign_in(browser, org_key)
    copied = browser.cookies[COOKIE]
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=platform.gateway_url, follow_redirects=False) as thief:
        thief.cookies.set(COOKIE, copied)
        answer = thief.get("/datasets")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    # Another session of the same key is not affected.
    with httpx.Client(base_url=platform.gateway_url, follow_redirects=False) as other:
        sign_in(other, org_key)
        assert other.get("/datasets").status_code == 200


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/deployments", {"model_id": "model_x", "name": "d", "min_replicas": "abc"}, "min_replicas"),
        ("/deployments", {"model_id": "model_x", "name": "d", "min_replicas": "1e9"}, "min_replicas"),
        ("/deployments/dep_x/scale", {"min_replicas": "1", "max_replicas": "nan"}, "max_replicas"),
        ("/snapshots/snap_x/splits", {"test_pct": "inf"}, "test_pct"),
        (
            "/models",
            {
                "name": "m",
                "base_model": "minilm-l6",
                "method": "full",
                "train_snapshot_id": "snap_x",
                "opt:max_epochs": "[[[[",
            },
            "max_epochs",
        ),
    ],
)
def test_form_values_that_are_no_numbers_are_a_422_naming_the_field(
    browser: httpx.Client, org_key: str, path: str, form: dict[str, str], field: str
) -> None:
    token = sign_in(browser, org_key)
    answer = browser.post(path, data=form | {"csrf_token": token})
    assert answer.status_code == 422, answer.text[:500]
    assert field in answer.text
