"""The console's session: the API key the user signed in with, kept only in an HttpOnly, SameSite=Strict
cookie, encrypted and authenticated (AES-GCM) with the console's secret, so that neither the page's scripts
nor anyone who reads the cookie can recover the key. Each session has a random id from which the CSRF
token is derived (HMAC): every form and every htmx request carries it, and every state-changing request
is refused without it. Signing out ends the session on the server too (``console.ended``): a copied cookie
stops working then, not when it expires."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE = "automl_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Before sign-in: a random value in a SameSite=Strict cookie, and a token derived from it in the sign-in form.
# A form posted from another site comes without the cookie (or without the token): no one can sign a
# victim's browser into the attacker's org (login CSRF).
LOGIN_COOKIE = "automl_login"
LOGIN_FIELD = "login_token"


@dataclass(frozen=True)
class Session:
    key: str
    session_id: str
    org_name: str
    expires_at: float


class SessionCodec:
    def __init__(self, secret: str, ttl_s: float) -> None:
        digest = hashlib.sha256(("automl-console:" + secret).encode()).digest()
        self._aead = AESGCM(digest)
        self._csrf_secret = hashlib.sha256(("automl-console-csrf:" + secret).encode()).digest()
        self.ttl_s = ttl_s

    def new(self, key: str, org_name: str) -> Session:
        return Session(key, secrets.token_urlsafe(18), org_name, time.time() + self.ttl_s)

    def encode(self, session: Session) -> str:
        nonce = os.urandom(12)
        payload = json.dumps(
            {"k": session.key, "s": session.session_id, "o": session.org_name, "e": session.expires_at}
        ).encode()
        sealed = self._aead.encrypt(nonce, payload, COOKIE.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decode(self, value: str | None) -> Session | None:
        if not value or len(value) > 4096:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            payload = json.loads(self._aead.decrypt(raw[:12], raw[12:], COOKIE.encode()))
            session = Session(str(payload["k"]), str(payload["s"]), str(payload["o"]), float(payload["e"]))
        except (ValueError, KeyError, TypeError, InvalidTag):
            return None
        return session if session.expires_at > time.time() else None

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_secret, session.session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_valid(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")

    @staticmethod
    def login_nonce() -> str:
        return secrets.token_urlsafe(18)

    def login_token(self, nonce: str) -> str:
        return hmac.new(self._csrf_secret, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()

    def login_valid(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and bool(token) and hmac.compare_digest(self.login_token(nonce or ""), token or "")
