"""The web console: server-rendered pages (Jinja, htmx, uPlot; every script served from here, none from a
CDN) at the gateway's root, over the same public API as every client (the SDK, in process through the
gateway's middleware), signed in with an API key kept in an encrypted HttpOnly cookie."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from automl_client import errors
from gateway.console.deps import ConsoleState, CsrfRejected, LoginRequired, cookie_session, login_url
from gateway.console.forms import FormInvalid
from gateway.console.pages import auth, datasets, deployments, models, snapshots
from gateway.console.render import render
from gateway.console.session import COOKIE, SessionCodec

HERE = Path(__file__).resolve().parent


def _wants_fragment(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    target = login_url(error.next_path if request.method == "GET" else "/datasets")
    if _wants_fragment(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _csrf_rejected(request: Request, error: Exception) -> Response:
    detail = "The form was not sent by this console (its CSRF token is missing or wrong). Reload the page."
    return render(request, "error.html", None, error="Forbidden", detail=detail, status_code=403)


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, errors.AutoMLClientError)
    if isinstance(error, errors.Unauthorized):  # the key was revoked or expired: sign in again
        response = RedirectResponse(login_url(request.url.path), status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
    status = error.status if isinstance(error, errors.APIError) else 502
    name = error.error if isinstance(error, errors.APIError) else type(error).__name__
    detail = error.detail if isinstance(error, errors.APIError) else str(error)
    request_id = error.request_id if isinstance(error, errors.APIError) else None
    session = cookie_session(request)
    if _wants_fragment(request):
        return HTMLResponse(f'<p class="error" role="alert">{_escape(name)}: {_escape(detail)}</p>', status_code=status)
    return render(request, "error.html", session, error=name, detail=detail, request_id=request_id, status_code=status)


async def _form_invalid(request: Request, error: Exception) -> Response:
    if isinstance(error, ValidationError):
        detail = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'form'}: {problem['msg']}"
            for problem in error.errors(include_url=False)[:5]
        )
    else:
        detail = str(error)
    if _wants_fragment(request):
        return HTMLResponse(f'<p class="error" role="alert">InvalidRequest: {_escape(detail)}</p>', status_code=422)
    session = cookie_session(request)
    return render(request, "error.html", session, error="InvalidRequest", detail=detail, status_code=422)


def figure(value: object) -> str:
    """A figure for a table: floats to 4 decimals, the rest as they are."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def install(app: FastAPI, secret: str, *, session_ttl_s: float, secure_cookies: bool) -> None:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["fig"] = figure
    app.state.console = ConsoleState(SessionCodec(secret, session_ttl_s), templates, secure_cookies)
    for router in (auth.router, datasets.router, snapshots.router, models.router, deployments.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.add_exception_handler(errors.AutoMLClientError, _api_error)
    app.add_exception_handler(FormInvalid, _form_invalid)
    # The SDK checks a request against the API's contract before sending it: a form value the contract
    # refuses (a training option typed as "[[[[") is the user's to correct, like the API's own 422.
    app.add_exception_handler(ValidationError, _form_invalid)
