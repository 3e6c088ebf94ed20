"""Response shapes shared by every service."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class ErrorBody(BaseModel):
    error: str
    detail: str
    request_id: str | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = None
