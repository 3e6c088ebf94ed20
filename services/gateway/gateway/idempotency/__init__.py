"""Idempotency-Key on every create: the middleware (``middleware``) and its records' statements
(``repository``)."""

from gateway.idempotency.middleware import IdempotencyMiddleware

__all__ = ["IdempotencyMiddleware"]
