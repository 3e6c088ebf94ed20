"""The console driven as a browser drives it, without one (httpx, no redirects followed): an org to sign in
with, a client that keeps cookies, and the sign-in form sent with its login token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import OPERATOR_KEY, bearer
from tests.support.platform import Platform


@pytest.fixture
def org_key(platform: Platform) -> str:
    created = httpx.post(f"{platform.gateway_url}/v1/orgs", json={"name": "console"}, headers=bearer(OPERATOR_KEY))
    assert created.status_code == 201, created.text
    key: str = created.json()["admin_key"]
    return key


@pytest.fixture
def browser(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform.gateway_url, follow_redirects=False, timeout=30) as client:
        yield client


def login(browser: httpx.Client, key: str, next_path: str = "/datasets") -> httpx.Response:
    """Sends the sign-in form as a browser does: the page first (its login cookie and token), then the form."""
    form = browser.get("/login")
    token = re.search(r'name="login_token" value="([0-9a-f]{64})"', form.text)
    assert token is not None, form.text
    return browser.post("/login", data={"api_key": key, "next": next_path, "login_token": token.group(1)})


def sign_in(browser: httpx.Client, key: str) -> str:
    """Signs in; the page's CSRF token."""
    answer = login(browser, key)
    assert answer.status_code == 303, answer.text
    page = browser.get("/datasets")
    assert page.status_code == 200
    token = re.search(r'data-csrf="([0-9a-f]{64})"', page.text)
    assert token is not None
    return token.group(1)
