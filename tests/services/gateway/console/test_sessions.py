"""The console's routes, sessions and CSRF, server side (the browser tests are in tests/e2e): pages need a
session, the key lives only in an encrypted HttpOnly cookie, every change needs the session's CSRF token, and
the console reaches the services only through the public API."""

from __future__ import annotations

import re
import time

import httpx

from gateway.console.session import COOKIE, SessionCodec
from tests.support.api import bearer
from tests.support.console import browser, login, org_key, sign_in
from tests.support.platform import Platform
from tests.support.routes import app_routes

__all__ = ["browser", "org_key"]


def test_pages_need_a_session(browser: httpx.Client) -> None:
    for path in ("/", "/datasets", "/snapshots", "/models", "/deployments", "/keys", "/usage"):
        answer = browser.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login") or answer.headers["location"] == "/datasets"
    htmx = browser.get("/datasets", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"] == "/login?next=%2Fdatasets"
    assert browser.get("/login").status_code == 200


def test_the_key_is_kept_encrypted_in_an_httponly_strict_cookie(browser: httpx.Client, org_key: str) -> None:
    refused = login(browser, "aml_0000000000000000_" + "x" * 40)
    assert (
        refused.status_code == 401
        and "not valid" in refused.text
        and COOKIE not in refused.headers.get("set-cookie", "")
    )
    answer = login(browser, org_key, "/snapshots")
    assert answer.status_code == 303 and answer.headers["location"] == "/snapshots"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
    value = browser.cookies[COOKIE]
    assert org_key not in value and org_key.split("_")[1] not in value
    assert "console" in browser.get("/datasets").text  # the org's name, from the public API

    browser.cookies.set(COOKIE, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert browser.get("/datasets").status_code == 303  # a tampered cookie is no session


def test_next_never_leaves_the_site(browser: httpx.Client, org_key: str) -> None:
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"):
        answer = login(browser, org_key, target)
        assert answer.headers["location"] == "/datasets", target


def test_every_change_needs_the_sessions_csrf_token(platform: Platform, browser: httpx.Client, org_key: str) -> None:
    token = sign_in(browser, org_key)
    app = platform.apps["gateway"]
    changes = [
        (route.method, route.path)
        for route in app_routes(app)
        if not route.path.startswith("/v1") and route.path != "/login"
        if route.method in ("POST", "PUT", "PATCH", "DELETE")
    ]
    assert len(changes) >= 14
    for method, template in changes:
        path = re.sub(r"\{[a-z_]+\}", "x1", template)
        for headers in ({}, {"X-CSRF-Token": "0" * 64}):
            answer = browser.request(
                method, path, headers=headers, data={"csrf_token": "nope"} if method == "POST" else None
            )
            assert answer.status_code == 403, f"{method} {path} {headers}: {answer.status_code}"
    # Another session's token is not this one's.
    with httpx.Client(base_url=platform.gateway_url, follow_redirects=False) as other:
        other_token = sign_in(other, org_key)
    assert other_token != token
    refused = browser.post("/logout", data={"csrf_token": other_token})
    assert refused.status_code == 403
    signed_out = browser.post("/logout", data={"csrf_token": token})
    assert signed_out.status_code == 303 and 'automl_session=""' in signed_out.headers["set-cookie"]


def test_an_upload_streams_through_the_public_api(browser: httpx.Client, org_key: str) -> None:
    token = sign_in(browser, org_key)
    rows = b"text,label\n" + b"".join(b"message %d,%s\n" % (i, b"spam" if i % 3 else b"ham") for i in range(200))
    answer = browser.post(
        "/datasets/upload", files={"file": ("m.csv", rows)}, data={"name": "console"}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 201, answer.text
    dataset_id = answer.json()["id"]
    with httpx.Client(base_url=str(browser.base_url), headers=bearer(org_key)) as api:
        for _ in range(100):
            if api.get(f"/v1/datasets/{dataset_id}").json()["status"] != "processing":
                break
            time.sleep(0.1)
        assert api.get(f"/v1/datasets/{dataset_id}").json()["row_count"] == 200
    page = browser.get(f"/datasets/{dataset_id}")
    assert page.status_code == 200 and page.text.count('<tr id="row-') == 50
    last = browser.get(f"/datasets/{dataset_id}?start=150")
    assert "rows 150 to 199 of 200" in last.text


def test_a_revoked_key_signs_the_console_out(platform: Platform, browser: httpx.Client, org_key: str) -> None:
    with httpx.Client(base_url=platform.gateway_url, headers=bearer(org_key)) as api:
        created = api.post("/v1/keys", json={"name": "short-lived"}).json()
    sign_in(browser, created["key"])
    with httpx.Client(base_url=platform.gateway_url, headers=bearer(org_key)) as api:
        assert api.delete(f"/v1/keys/{created['id']}").status_code == 200
    time.sleep(2.5)  # the gateway trusts a looked-up key for key_cache_ttl_s (2 s)
    answer = browser.get("/datasets")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_expired_or_foreign_session_is_no_session() -> None:
    codec = SessionCodec("a-secret-of-the-console-0123456789", ttl_s=60)
    session = codec.new("aml_key", "acme")
    assert codec.decode(codec.encode(session)) == session
    expired = codec.new("aml_key", "acme").__class__("aml_key", "s", "acme", time.time() - 1)
    assert codec.decode(codec.encode(expired)) is None
    other = SessionCodec("another-secret-0123456789abcdefghij", ttl_s=60)
    assert other.decode(codec.encode(session)) is None
    assert codec.decode("not base64 at all!") is None and codec.decode("x" * 5000) is None
    assert codec.csrf_valid(session, codec.csrf_token(session))
    assert not codec.csrf_valid(session, None) and not codec.csrf_valid(session, "0" * 64)
