"""Optional HTTP port: /healthz (up, token obtainable, Truebar reachable) and /metrics."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlparse

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..config.errors import BridgeError
from ..server.context import BridgeContext
from ..truebar.network import untrusted

_LOGGER = logging.getLogger(__name__)
CTX_KEY = web.AppKey("ctx", BridgeContext)


async def _token_problem(ctx: BridgeContext) -> str | None:
    if ctx.credentials.has_valid_token:
        return None
    try:
        await ctx.credentials.access_token()
    except BridgeError as err:
        return f"no Truebar token ({err.code}): {err}"
    return None


async def _reachability_problem(ctx: BridgeContext) -> str | None:
    s = ctx.settings
    url = s.api_base_url.rstrip("/") + "/api/info"
    try:
        async with (
            asyncio.timeout(s.connect_timeout),
            ctx.http.get(url) as resp,
        ):
            if resp.status >= 500:
                return f"Truebar answers HTTP {resp.status}"
    except (aiohttp.ClientError, OSError, TimeoutError) as err:
        untrusted_cert = untrusted(err, "Truebar")
        if untrusted_cert is not None:
            return str(untrusted_cert)
        return f"Truebar is unreachable ({type(err).__name__})"
    return None


async def healthz(request: web.Request) -> web.Response:
    """200 if healthy, else 503 with the reasons (each check bounded by its timeout)."""
    ctx = request.app[CTX_KEY]
    reasons = [
        r for r in await asyncio.gather(_token_problem(ctx), _reachability_problem(ctx)) if r
    ]
    body = {
        "status": "unhealthy" if reasons else "ok",
        "reasons": reasons,
        "sessions_in_flight": ctx.active,
    }
    return web.json_response(body, status=503 if reasons else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics."""
    body = request.app[CTX_KEY].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def http_host(uri: str) -> str:
    """Bind the HTTP port like the Wyoming one: the same host for tcp://, loopback otherwise."""
    parsed = urlparse(uri)
    return parsed.hostname or "127.0.0.1" if parsed.scheme == "tcp" else "127.0.0.1"


async def start_http(ctx: BridgeContext, port: int) -> tuple[web.AppRunner, int]:
    """Start the HTTP API; return its runner and the bound port."""
    app = web.Application()
    app[CTX_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, http_host(ctx.settings.uri), port)
    await site.start()
    bound = runner.addresses[0][1]
    _LOGGER.info("HTTP API (/healthz, /metrics) on port %s", bound)
    return runner, int(bound)
