"""Telling Home Assistant where the server is: zeroconf (mDNS) and the Supervisor discovery API."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import aiohttp

from ..config.settings import Settings
from .healthcheck import check, local_uri

if TYPE_CHECKING:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

# zeroconf and ifaddr are imported only when zeroconf is on: together they hold about 14 MB
# of memory that most deployments (the add-on, Docker with a fixed URI) never use.

_LOGGER = logging.getLogger(__name__)
SERVICE_TYPE = "_wyoming._tcp.local."
WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 - wildcard binds to recognise, not to bind
DISCOVERY_ATTEMPTS = 5
DISCOVERY_TIMEOUT = 5.0


def routable_address() -> str | None:
    """The first non-loopback IPv4 address of this host's interfaces (no traffic is sent)."""
    import ifaddr  # noqa: PLC0415 - see the note on the imports

    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                address = ipaddress.ip_address(ip.ip)
                if not (address.is_loopback or address.is_link_local):
                    return ip.ip
    return None


def advertised_address(bound_host: str, override: str | None) -> str:
    """What to advertise: the override, else the bound host, else (wildcard) a routable one."""
    if override:
        return override
    if bound_host not in WILDCARDS:
        return bound_host
    found = routable_address()
    if found is None:
        _LOGGER.warning(
            "No routable address found to advertise; using 127.0.0.1 (set zeroconf_host)"
        )
        return "127.0.0.1"
    return found


def build_service_info(name: str, address: str, port: int) -> ServiceInfo:
    """The mDNS record Home Assistant browses for."""
    from zeroconf import ServiceInfo  # noqa: PLC0415 - see the note on the imports

    return ServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        addresses=[ipaddress.ip_address(address).packed],
        port=port,
        server=f"{socket.gethostname()}.local.",
    )


async def start_zeroconf(settings: Settings, address: str) -> AsyncZeroconf | None:
    """Register the service if `zeroconf` is set; return the handle to close at shutdown."""
    if not settings.zeroconf:
        return None
    parsed = urlparse(address)
    info = build_service_info(
        settings.zeroconf,
        advertised_address(parsed.hostname or "", settings.zeroconf_host),
        settings.zeroconf_port or parsed.port or 10300,
    )
    from zeroconf.asyncio import AsyncZeroconf  # noqa: PLC0415 - see the note on the imports

    zc = AsyncZeroconf()
    await zc.async_register_service(info)
    _LOGGER.info(
        "Zeroconf: advertised %s at %s:%s", info.name, info.parsed_addresses()[0], info.port
    )
    return zc


async def register_with_supervisor(
    http: aiohttp.ClientSession, settings: Settings, address: str
) -> bool:
    """As a Supervisor add-on, post the Wyoming URI to the discovery API once the server
    answers Describe. Does nothing outside an add-on (no SUPERVISOR_TOKEN)."""
    token = os.environ.get("SUPERVISOR_TOKEN")
    if not token:
        return False
    port = urlparse(address).port
    uri = f"tcp://{socket.gethostname()}:{port}"
    body = {"service": "wyoming", "config": {"uri": uri}}
    url = settings.supervisor_url.rstrip("/") + "/discovery"
    for attempt in range(1, DISCOVERY_ATTEMPTS + 1):
        problem = await check(local_uri(address), DISCOVERY_TIMEOUT)
        if problem is None:
            try:
                async with (
                    asyncio.timeout(DISCOVERY_TIMEOUT),
                    http.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp,
                ):
                    if resp.status < 300:
                        _LOGGER.info("Registered %s with the Supervisor", uri)
                        return True
                    problem = f"HTTP {resp.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                problem = type(err).__name__
        _LOGGER.warning("Supervisor discovery attempt %d failed: %s", attempt, problem)
        await asyncio.sleep(2.0)
    return False
