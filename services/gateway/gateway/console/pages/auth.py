"""Sign in with an API key (checked against the public API), sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from automl_client import errors
from gateway.console.deps import CsrfDep, api_client, state_of
from gateway.console.render import render
from gateway.console.session import COOKIE

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    # Only a path of this site: never //host or a scheme (an open redirect).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/datasets"
    return value


@router.get("/login")
async def login_page(request: Request, next: str = "/datasets") -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = "/datasets",
) -> Response:
    state = state_of(request)
    try:
        async with api_client(request, api_key.strip()) as client:
            org = await client.orgs.me()
    except errors.APIError as error:
        message = "That key is not valid." if error.status in (401, 403) else f"{error.error}: {error.detail}"
        return render(request, "login.html", None, next=_safe_next(next), error=message, status_code=401)
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
    return response


@router.post("/logout")
async def logout(_: CsrfDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/datasets", status_code=303)
