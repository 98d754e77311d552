"""The simulator's Keycloak-like token store: password and refresh grants, rotation, expiry."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROLES = ("PIPELINE_ONLINE_API", "STAGE_ASR", "STAGE_NLP_PC")


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


@dataclass
class TokenStore:
    """Issues and checks access and refresh tokens; each refresh token works once."""

    users: dict[str, str]
    client_id: str
    access_lifetime: int
    refresh_lifetime: int
    clock: Callable[[], float] = time.monotonic
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

    def _issue(self, user: str) -> dict[str, Any]:
        now = self.clock()
        access = "at." + secrets.token_urlsafe(24)
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

    def check(self, token: str | None) -> bool:
        """Return whether an access token is known and unexpired."""
        if not token:
            return False
        issued = self._access.get(token)
        return issued is not None and issued.expires_at > self.clock()


def bearer_token(headers: Any, query: Any) -> str | None:
    """Return the token of an `Authorization: Bearer` header or the `access_token` query."""
    header = headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return str(header[7:].strip())
    token = query.get("access_token")
    return str(token) if token else None
