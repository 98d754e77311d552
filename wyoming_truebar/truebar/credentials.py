"""Process-wide Truebar credentials: password grant, rotating refresh grant, single-flight renewal.

The only module that talks to the token endpoint (the JwtCache pattern of seed 000: every
WebSocket connect asks this cache for a token, so long-lived servers stay correct across
rotations). A circuit breaker spares the endpoint during an outage: after a failed grant every
caller gets that failure at once until the back-off step has passed (0.5 s doubling to 30 s,
or to half of reconnect_deadline if that is shorter),
so the endpoint sees about one request per step however many satellites speak; a token that
is still valid is always used.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from ..config.errors import (
    AuthError,
    BridgeError,
    ProtocolError,
    ServiceUnavailableError,
    TokenTimeoutError,
)
from ..config.settings import Settings
from .breaker import MAX_STEP, Breaker
from .network import proxy_for, untrusted, via

_LOGGER = logging.getLogger(__name__)
RENEW_AHEAD = (30.0, 0.05)
"""Renew this long before expiry: 30 s, or 5 % of the lifetime if that is shorter."""
EXPIRY_MARGIN = (1.0, 0.025)
"""Stop using a token this long before it expires (1 s or 2.5 %), so it never expires in flight."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """One token response, with times on the cache's monotonic clock."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    renew_at: float
    refresh_expires_at: float

    @staticmethod
    def from_response(body: Any, now: float) -> TokenSet:
        """Build from a Keycloak token response; the lifetimes come from the response."""
        try:
            access = str(body["access_token"])
            expires_in = float(body["expires_in"])
        except (KeyError, TypeError, ValueError) as err:
            raise ProtocolError("The Truebar token endpoint sent an unusable answer") from err
        refresh = body.get("refresh_token")
        refresh_in = float(body.get("refresh_expires_in") or 0) if refresh else 0.0
        margin = min(EXPIRY_MARGIN[0], expires_in * EXPIRY_MARGIN[1])
        ahead = min(RENEW_AHEAD[0], expires_in * RENEW_AHEAD[1])
        return TokenSet(
            access_token=access,
            refresh_token=str(refresh) if refresh else None,
            expires_at=now + expires_in - margin,
            renew_at=now + expires_in - ahead,
            refresh_expires_at=now + refresh_in - margin,
        )

    def usable(self, now: float) -> bool:
        """Whether the access token may still be sent."""
        return now < self.expires_at

    def due(self, now: float) -> bool:
        """Whether it is time to renew (while the token still works)."""
        return now >= self.renew_at

    def can_refresh(self, now: float) -> bool:
        """Whether the refresh grant may work."""
        return self.refresh_token is not None and now < self.refresh_expires_at


def loop_time() -> float:
    """The running event loop's clock (monotonic; virtual in tests that move it)."""
    return asyncio.get_running_loop().time()


def keycloak_error(body: Any) -> str:
    """Keycloak's error code and description (they carry no secret), e.g. `invalid_grant:
    Invalid user credentials`."""
    if not isinstance(body, dict):
        return "no reason given"
    error, description = body.get("error"), body.get("error_description")
    return ": ".join(str(part) for part in (error, description) if part) or "no reason given"


class CredentialsCache:
    """Hands out access tokens; renews ahead of expiry, one renewal at a time for everyone."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        settings: Settings,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._http = http
        self._settings = settings
        self._proxy = proxy_for(settings.auth_url)
        self._clock = clock or loop_time
        """Token lifetimes are measured on this clock: the event loop's, like every other
        wait of the bridge (a test moves it)."""
        self._tokens: TokenSet | None = None
        self._renewal: asyncio.Task[TokenSet] | None = None
        # The longest step is at most half of reconnect_deadline: utterances keep trying that
        # long after audio-stop (at least once a second) and their tries trigger the breaker's
        # next grant, so the first utterance that stops after the endpoint is back is never
        # refused by the breaker alone.
        self.breaker = Breaker(max_step=min(MAX_STEP, settings.reconnect_deadline / 2))
        self.grants: Counter[str] = Counter()
        """Successful grants by type (for metrics and tests)."""
        self.failures: Counter[str] = Counter()
        """Failed grant requests by error code (for metrics)."""

    def __repr__(self) -> str:
        return f"CredentialsCache(user={self._settings.username!r}, grants={dict(self.grants)})"

    async def access_token(self) -> str:
        """Return a token that is valid now; wait for a renewal only when none is. While the
        breaker's back-off runs, raise the last grant failure without a request."""
        now = self._clock()
        tokens = self._tokens
        if tokens is not None and tokens.usable(now):
            if tokens.due(now) and self.breaker.blocked(now) is None:
                self._start_renewal()  # stale-while-revalidate: this caller does not wait
            return tokens.access_token
        if self._renewal is None or self._renewal.done():
            blocked = self.breaker.blocked(now)
            if blocked is not None:
                raise blocked
        task = self._start_renewal()
        # shield: a caller that gives up must not cancel the renewal the others wait for.
        return (await asyncio.shield(task)).access_token

    def invalidate(self, token: str) -> None:
        """Forget an access token the service refused (a 401); the refresh token is kept."""
        tokens = self._tokens
        if tokens is not None and tokens.access_token == token:
            self._tokens = replace(tokens, expires_at=0.0, renew_at=0.0)

    @property
    def has_valid_token(self) -> bool:
        """Whether a usable access token is cached (for health checks)."""
        return self._tokens is not None and self._tokens.usable(self._clock())

    def _start_renewal(self) -> asyncio.Task[TokenSet]:
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._renew(), name="truebar token renewal")
            self._renewal.add_done_callback(self._renewal_done)
        return self._renewal

    @staticmethod
    def _renewal_done(task: asyncio.Task[TokenSet]) -> None:
        # Retrieve the outcome of renewals nobody waited for (the breaker logged failures).
        if not task.cancelled():
            task.exception()

    async def _renew(self) -> TokenSet:
        try:
            fresh = await self._grants()
        except BridgeError as err:
            self.failures[err.code] += 1
            if self.breaker.failed(err, self._clock()):
                _LOGGER.warning(
                    "Truebar token endpoint failing (%s: %s); grants back off from %g s up "
                    "to %g s, a valid token is still used",
                    err.code,
                    err,
                    self.breaker.first_step,
                    self.breaker.max_step,
                )
            else:
                _LOGGER.debug("Token grant failed again (%s: %s)", err.code, err)
            raise
        outage = self.breaker.succeeded(self._clock())
        if outage is not None:
            _LOGGER.info(
                "Truebar token endpoint works again after %.1f s and %d failed request(s)",
                outage.seconds,
                outage.failures,
            )
        self._tokens = fresh
        return fresh

    async def _grants(self) -> TokenSet:
        """The refresh grant if the refresh token may work, else (or if refused) the password
        grant."""
        tokens = self._tokens
        fresh: TokenSet | None = None
        if tokens is not None and tokens.can_refresh(self._clock()):
            form = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""}
            try:
                fresh = await self._grant(form)
            except AuthError:
                _LOGGER.info("Refresh token refused; falling back to the password grant")
        if fresh is None:
            fresh = await self._grant(
                {
                    "grant_type": "password",
                    "username": self._settings.username,
                    "password": self._settings.password,
                }
            )
        return fresh

    async def _grant(self, form: dict[str, str]) -> TokenSet:
        kind = form["grant_type"]
        form = {**form, "client_id": self._settings.client_id}
        try:
            async with asyncio.timeout(self._settings.token_timeout):
                body = await self._post(form, kind)
        except TimeoutError as err:
            raise TokenTimeoutError("The Truebar token endpoint did not answer in time") from err
        except (aiohttp.ClientError, OSError) as err:
            untrusted_cert = untrusted(err, "The Truebar token endpoint")
            if untrusted_cert is not None:
                raise untrusted_cert from err
            raise ServiceUnavailableError(
                "Cannot reach the Truebar token endpoint", detail=type(err).__name__
            ) from err
        self.grants[kind] += 1
        _LOGGER.debug("Token grant %s succeeded (expires in %s s)", kind, body.get("expires_in"))
        return TokenSet.from_response(body, self._clock())

    async def _post(self, form: dict[str, str], kind: str) -> dict[str, Any]:
        async with self._http.post(self._settings.auth_url, data=form, **via(self._proxy)) as resp:
            if resp.status >= 500:
                raise ServiceUnavailableError(
                    f"The Truebar token endpoint is unavailable (HTTP {resp.status})"
                )
            try:
                body = await resp.json(content_type=None)
            except ValueError as err:
                raise ProtocolError(
                    "The Truebar token endpoint sent an answer that is not JSON",
                    detail=f"HTTP {resp.status}",
                ) from err
            if resp.status in (400, 401, 403):
                raise AuthError(f"Truebar refused the {kind} grant ({keycloak_error(body)})")
            if resp.status != 200 or not isinstance(body, dict):
                raise ServiceUnavailableError(
                    f"The Truebar token endpoint answered HTTP {resp.status}"
                )
            return body
