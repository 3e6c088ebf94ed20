"""What every console page gets: the signed-in session (or a redirect to sign in), an SDK client that calls
the public API as that session's key, through the gateway's own middleware (authentication, rate limits,
the proxy): the console has no other way into the services. And the CSRF check for every change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from automl_client import AsyncClient
from automl_client.config import Config
from gateway.clients import client_address
from gateway.console.ended import session_ended
from gateway.console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, SessionCodec

INTERNAL_BASE = "http://gateway.console"  # requests go to the app in process, this names no host


@dataclass
class ConsoleState:
    codec: SessionCodec
    templates: Jinja2Templates
    secure_cookies: bool


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfRejected(Exception):
    pass


def state_of(request: Request) -> ConsoleState:
    console: ConsoleState = request.app.state.console
    return console


def cookie_session(request: Request) -> Session | None:
    """The session the cookie holds, if it is genuine and unexpired (not asked whether it was signed out)."""
    return state_of(request).codec.decode(request.cookies.get(COOKIE))


async def current_session(request: Request) -> Session:
    session = cookie_session(request)
    if session is None or await session_ended(request.app.state.database, session.session_id):
        raise LoginRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return session


# The signed-in browser's console session (a cookie), not a database session (``automl_common.deps.SessionDep``).
ConsoleSessionDep = Annotated[Session, Depends(current_session)]


def api_client(request: Request, key: str) -> AsyncClient:
    # The API sees the browser's address (behind a trusted proxy, the one it forwarded), not the console's.
    address = client_address(request.scope, request.app.state.trusted_networks)
    transport = httpx.ASGITransport(app=request.app, client=(address, 0))
    return AsyncClient(config=Config(url=INTERNAL_BASE, api_key=key, timeout_s=60, max_retries=0), transport=transport)


async def api(request: Request, session: ConsoleSessionDep) -> AsyncIterator[AsyncClient]:
    async with api_client(request, session.key) as client:
        yield client


ApiDep = Annotated[AsyncClient, Depends(api)]


async def check_csrf(request: Request, session: ConsoleSessionDep) -> Session:
    """Every state-changing request: the token from a form field or the htmx header must match the session's."""
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        token = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
    if not state_of(request).codec.csrf_valid(session, token if isinstance(token, str) else None):
        raise CsrfRejected()
    return session


CsrfDep = Annotated[Session, Depends(check_csrf)]


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="")
