"""Every route an app answers, whatever FastAPI does with included routers (0.165 keeps them as lazily
flattened ``_IncludedRouter`` entries, not as ``APIRoute``s in ``app.routes``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    include_in_schema: bool


def app_routes(app: FastAPI) -> list[Route]:
    return sorted(set(_walk(app.routes)), key=lambda route: (route.path, route.method))


def _walk(routes: Any) -> Iterator[Route]:
    for route in routes:
        if isinstance(route, APIRoute) or (hasattr(route, "methods") and hasattr(route, "include_in_schema")):
            for method in route.methods or ():
                yield Route(method, route.path, bool(route.include_in_schema))
        elif hasattr(route, "effective_route_contexts"):
            yield from _walk(route.effective_route_contexts())
