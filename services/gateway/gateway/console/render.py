"""Rendering a page: the template with the session, its CSRF token and the section the navigation marks."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.console.deps import state_of
from gateway.console.session import Session


def render(
    request: Request,
    template: str,
    session: Session | None,
    *,
    section: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    state = state_of(request)
    csrf = state.codec.csrf_token(session) if session is not None else ""
    return state.templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf_token": csrf, "section": section, **context},
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )
