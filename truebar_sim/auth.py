"""The simulator's Keycloak-like token store: password and refresh grants, rotation, expiry.

Access tokens are JWTs, as Keycloak's are: their payload carries the user and its realm roles
(`realm_access.roles`), signed with a key of this process (clients only read them).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ONLINE_ROLE = "PIPELINE_ONLINE_API"
"""Needed to open a streaming session (else the upgrade is answered 403)."""
ROLES = (ONLINE_ROLE, "STAGE_ASR", "STAGE_NLP_PC")
"""Every role; a stage's role is needed to put the stage in a pipeline."""


class GrantError(Exception):
    """A grant was refused; carries the Keycloak error body."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.body = {"error": error, "error_description": description}
        self.status = status


@dataclass(slots=True)
class _Issued:
    user: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT of the claims."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


@dataclass
class TokenStore:
    """Issues and checks access and refresh tokens; each refresh token works once."""

    users: dict[str, str]
    client_id: str
    access_lifetime: int
    refresh_lifetime: int
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Roles of users that lack some (the others have every role in ROLES)."""
    clock: Callable[[], float] = field(default=lambda: asyncio.get_running_loop().time())
    """Lifetimes are measured on the event loop's clock (virtual in tests that move it)."""
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _access: dict[str, _Issued] = field(default_factory=dict)
    _refresh: dict[str, _Issued] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    """Every token ever issued (the secrets-in-logs test searches output for them)."""

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Run one token request; raise GrantError the way Keycloak answers."""
        if form.get("client_id") != self.client_id:
            raise GrantError(
                "unauthorized_client", "Invalid client or Invalid client credentials", 401
            )
        grant_type = form.get("grant_type")
        if grant_type == "password":
            user = form.get("username", "")
            if user not in self.users or not secrets.compare_digest(
                self.users[user], form.get("password", "")
            ):
                raise GrantError("invalid_grant", "Invalid user credentials", 401)
        elif grant_type == "refresh_token":
            user = self._use_refresh(form.get("refresh_token", ""))
        else:
            raise GrantError("unsupported_grant_type", "Unsupported grant_type")
        return self._issue(user)

    def _use_refresh(self, token: str) -> str:
        issued = self._refresh.pop(token, None)  # rotation: a refresh token works once
        if issued is None:
            raise GrantError("invalid_grant", "Invalid refresh token")
        if issued.expires_at <= self.clock():
            raise GrantError("invalid_grant", "Token is not active")
        return issued.user

    def user_roles(self, user: str) -> tuple[str, ...]:
        """The realm roles a user has."""
        return self.roles.get(user, ROLES)

    def _issue(self, user: str) -> dict[str, Any]:
        now = self.clock()
        claims = {
            "exp": int(time.time()) + self.access_lifetime,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(12),
            "typ": "Bearer",
            "azp": self.client_id,
            "preferred_username": user,
            "realm_access": {"roles": list(self.user_roles(user))},
        }
        access = jwt(claims, self._key)
        refresh = "rt." + secrets.token_urlsafe(24)
        self._access[access] = _Issued(user, now + self.access_lifetime)
        self._refresh[refresh] = _Issued(user, now + self.refresh_lifetime)
        self.issued += [access, refresh]
        self._forget_expired(now)
        return {
            "access_token": access,
            "expires_in": self.access_lifetime,
            "refresh_token": refresh,
            "refresh_expires_in": self.refresh_lifetime,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        }

    def _forget_expired(self, now: float) -> None:
        for table in (self._access, self._refresh):
            for token in [t for t, i in table.items() if i.expires_at <= now]:
                del table[token]

    def check(self, token: str | None) -> str | None:
        """Return the user of an access token that is known and unexpired, else None."""
        if not token:
            return None
        issued = self._access.get(token)
        return issued.user if issued is not None and issued.expires_at > self.clock() else None


def bearer_token(headers: Any, query: Any) -> tuple[str | None, str]:
    """Return the token of an `Authorization: Bearer` header or the `access_token` query, and
    where it was ("header", "query" or "none")."""
    header = headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return str(header[7:].strip()), "header"
    token = query.get("access_token")
    return (str(token), "query") if token else (None, "none")
