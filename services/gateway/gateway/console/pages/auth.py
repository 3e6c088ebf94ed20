"""Sign in with an API key (checked against the public API), sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from automl_client import errors
from gateway.console.deps import CsrfDep, api_client, state_of
from gateway.console.ended import end_session
from gateway.console.render import render
from gateway.console.session import COOKIE, LOGIN_COOKIE

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    # Only a path of this site: never //host or a scheme (an open redirect).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/datasets"
    return value


def _login_form(request: Request, next_path: str, *, error: str | None = None, status_code: int = 200) -> Response:
    """The sign-in page, with a login token tied to this browser's login cookie (set here if it has none)."""
    state = state_of(request)
    nonce = request.cookies.get(LOGIN_COOKIE) or state.codec.login_nonce()
    page = render(
        request,
        "login.html",
        None,
        next=_safe_next(next_path),
        login_token=state.codec.login_token(nonce),
        error=error,
        status_code=status_code,
    )
    page.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, httponly=True, secure=state.secure_cookies, samesite="strict", path="/login"
    )
    return page


@router.get("/login")
async def login_page(request: Request, next: str = "/datasets") -> Response:
    return _login_form(request, next)


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/datasets",
    login_token: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    state = state_of(request)
    if not state.codec.login_valid(request.cookies.get(LOGIN_COOKIE), login_token):
        message = "This sign-in form was not sent by this console (it may have expired). Sign in again here."
        return _login_form(request, next, error=message, status_code=403)
    try:
        async with api_client(request, api_key.strip()) as client:
            org = await client.orgs.me()
    except errors.APIError as error:
        message = "That key is not valid." if error.status in (401, 403) else f"{error.error}: {error.detail}"
        return _login_form(request, next, error=message, status_code=401)
    session = state.codec.new(api_key.strip(), org.name)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        state.codec.encode(session),
        max_age=int(state.codec.ttl_s),
        httponly=True,
        secure=state.secure_cookies,
        samesite="strict",
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, session: CsrfDep) -> Response:
    """Ends the session here (its id refused until it would have expired), then drops the cookie."""
    await end_session(request.app.state.database, session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/datasets", status_code=303)
