"""How the bridge reaches Truebar: the process's one HTTP session, TLS trust, proxies, and
URLs safe to log.

- TLS: the system's trusted CAs plus `ca_file` (a PEM bundle, e.g. a company's private CA);
  `verify_tls: false` turns verification off (last resort, warned about at start).
- Proxies: HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment, for the token endpoint,
  discovery and the WebSocket, looked up here once per URL (WSS_PROXY/WS_PROXY still win for
  the WebSocket when set). aiohttp's `trust_env` is off: it would look the proxy up (and read
  ~/.netrc) in a worker thread on every request (0.65 ms of CPU per request in a
  micro-benchmark here), and it would not find HTTPS_PROXY for `wss://` anyway. Requests
  to the Home Assistant Supervisor, which is local, never go through a proxy.
"""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from ..config.errors import CertificateError
from ..config.settings import Settings, SettingsError

SECRET_QUERY_KEYS = frozenset({"access_token", "token", "password", "refresh_token"})
_WS_TO_HTTP = {"ws": "http", "wss": "https"}


def redact(url: str) -> str:
    """The URL with credentials and secret query values replaced (for logs and errors)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urlencode(
        [
            (k, "***" if k.lower() in SECRET_QUERY_KEYS else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def untrusted(err: BaseException, what: str) -> CertificateError | None:
    """A CertificateError naming the problem and the fix, if `err` is a failed certificate
    verification (else None)."""
    if not isinstance(err, aiohttp.ClientConnectorCertificateError):
        return None
    cert = err.certificate_error
    reason = getattr(cert, "verify_message", None) or getattr(cert, "reason", None) or str(cert)
    return CertificateError(
        f"{what}'s TLS certificate is not trusted ({reason}); if it comes from a private CA, "
        "set ca_file (TRUEBAR_CA_FILE, --ca-file) to that CA's PEM bundle"
    )


def with_token(url: str, token: str) -> str:
    """The WebSocket URL with the access token as ?access_token= (token_in_url)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("access_token", token)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def tls_context(settings: Settings) -> ssl.SSLContext | bool:
    """What aiohttp verifies Truebar's certificates with: False (no verification), or the
    system's CAs plus ca_file. A ca_file that cannot be used stops start-up."""
    if not settings.verify_tls:
        return False
    return verified_context(settings)


def verified_context(settings: Settings) -> ssl.SSLContext:
    """Certificates verified against the system's CAs plus ca_file, whatever verify_tls says
    (Home Assistant's: verify_tls is for Truebar behind an inspecting proxy, and turning it
    off must not send an administrator's token to Home Assistant unverified)."""
    context = ssl.create_default_context()
    if settings.ca_file:
        try:
            context.load_verify_locations(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise SettingsError(
                "setting 'ca_file' (--ca-file, env TRUEBAR_CA_FILE): cannot load "
                f"{settings.ca_file} as a PEM bundle of CA certificates ({err.__class__.__name__})"
            ) from err
    return context


@dataclass(frozen=True)
class Proxy:
    """A proxy for one Truebar URL: where, and its credentials (kept apart from the URL)."""

    url: str
    auth: aiohttp.BasicAuth | None = None

    def __repr__(self) -> str:
        return f"Proxy({redact(self.url)!r})"


class ProxyArgs(TypedDict, total=False):
    """aiohttp's request arguments for a proxy."""

    proxy: str
    proxy_auth: aiohttp.BasicAuth | None


def via(proxy: Proxy | None) -> ProxyArgs:
    """aiohttp's request arguments for going through `proxy` (none: directly)."""
    return {"proxy": proxy.url, "proxy_auth": proxy.auth} if proxy is not None else {}


def proxy_for(url: str) -> Proxy | None:
    """The environment's proxy for a URL (ws:// and wss:// as http:// and https://), unless
    NO_PROXY exempts its host."""
    parts = urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    scheme = parts.scheme
    found = proxies.get(scheme) or proxies.get(_WS_TO_HTTP.get(scheme, scheme))
    if not found:
        return None
    proxy = urlsplit(found)
    auth = None
    if proxy.username is not None:
        auth = aiohttp.BasicAuth(proxy.username, proxy.password or "")
        netloc = proxy.netloc.rsplit("@", 1)[1]
        found = urlunsplit((proxy.scheme, netloc, proxy.path, proxy.query, proxy.fragment))
    return Proxy(found, auth)


def new_http_session(settings: Settings) -> aiohttp.ClientSession:
    """The process's one HTTP session: its pool holds every concurrent Truebar stream, it
    trusts the system's CAs and ca_file. Each request passes its own proxy (`via`)."""
    connector = aiohttp.TCPConnector(
        limit=settings.max_sessions + 8, limit_per_host=0, ssl=tls_context(settings)
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False)
