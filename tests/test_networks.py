"""The networks users have: a private CA (real TLS, a CA made at run time), an HTTP proxy on
loopback, the token in the WebSocket URL, and the set-up check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import trustme

from tests.conftest import (
    Sim,
    bridge_settings,
    sim_settings,
    start_bridge,
    start_sim,
    transcribe_with,
    watch_with,
)
from tests.procs import bridge_env, command, launch, wait_listening
from tests.wyoming_client import transcribe
from truebar_sim.demo import free_port
from truebar_sim.fixtures import load_fixtures
from wyoming_truebar.truebar.credentials import CredentialsCache
from wyoming_truebar.truebar.network import new_http_session

FIXTURE = load_fixtures()[0]
PCM = FIXTURE.pcm()


@dataclass
class Pki:
    """A private CA and a certificate it issued for the simulator's loopback addresses."""

    ca: trustme.CA
    ca_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = trustme.CA(organization_name="Example Corp private CA")
    ca_file = tmp_path / "company-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file)


@pytest.fixture
async def tls_sim(pki: Pki) -> AsyncIterator[Sim]:
    """The recognising simulator over HTTPS/WSS, with a certificate of the private CA."""
    running = await start_sim(sim_settings(), tls=pki.server_context())
    yield running
    await running.runner.cleanup()


async def sim_counters(sim: Sim, pki: Pki) -> dict[str, object]:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    async with (
        aiohttp.ClientSession() as http,
        http.get(sim.url + "/_sim/counters", ssl=context) as r,
    ):
        data: dict[str, object] = await r.json()
        return data


async def test_private_ca_trusted_through_ca_file(tls_sim: Sim, pki: Pki) -> None:
    assert tls_sim.url.startswith("https://")
    reply = await transcribe_with(tls_sim, PCM, ca_file=str(pki.ca_file), discovery_interval=60)
    assert reply.text == FIXTURE.text
    counters = await sim_counters(tls_sim, pki)
    assert counters["grants"] == {"password": 1, "refresh_token": 0}  # token endpoint: TLS
    assert counters["discovery_requests"] == 1  # REST: TLS
    assert counters["ws_connects"] == 1  # WSS


async def test_untrusted_certificate_is_a_clean_error_naming_ca_file(
    tls_sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        watched = await watch_with(tls_sim, PCM)  # the private CA is not trusted
    assert watched.error is not None
    when, code = watched.error
    assert code == "service_unavailable"
    assert watched.closed_at is not None
    assert when < 1.0  # a set-up problem: said at once, not retried until audio-stop
    failures = [r.getMessage() for r in caplog.records if "failed with" in r.getMessage()]
    assert len(failures) == 1
    assert "certificate is not trusted" in failures[0]
    assert "unable to get local issuer certificate" in failures[0]
    assert "ca_file" in failures[0]


async def test_token_in_url_sends_the_token_as_a_query_parameter_only(
    tls_sim: Sim, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_bridge(tls_sim, ca_file=str(pki.ca_file), token_in_url=True)
    try:
        with caplog.at_level(logging.DEBUG):
            replies = [await transcribe(running.port, PCM) for _ in range(2)]
    finally:
        await running.close()
    assert [r.text for r in replies] == [FIXTURE.text] * 2
    counters = await sim_counters(tls_sim, pki)
    assert counters["upgrade_auth"] == {"query": 2}  # and never the header
    for token in tls_sim.state.tokens.issued:
        assert token not in caplog.text


def test_redact_hides_credentials_and_tokens() -> None:
    from wyoming_truebar.truebar.network import redact, with_token  # noqa: PLC0415

    url = with_token("wss://api.example/api/pipelines/stream?x=1", "at.SECRET")
    assert "at.SECRET" in url
    assert redact(url) == "wss://api.example/api/pipelines/stream?x=1&access_token=***"
    assert redact("http://bob:pw@proxy:3128/") == "http://***@proxy:3128/"


@dataclass
class ConnectProxy:
    """A small HTTP CONNECT proxy on loopback: it counts tunnels and the bytes sent up them."""

    port: int = 0
    tunnels: list[str] = field(default_factory=list)
    upstream_bytes: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            method, target, _ = request.split("\r\n", 1)[0].split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            writer.close()
            return
        self.tunnels.append(target)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(
            self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer)
        )

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, upstream: bool = False
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if upstream:
                    self.upstream_bytes += len(data)
                sink.write(data)
                await sink.drain()
        sink.close()


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    running = ConnectProxy()
    server = await asyncio.start_server(running.handle, "127.0.0.1", 0)
    running.port = server.sockets[0].getsockname()[1]
    yield running
    server.close()


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "no_proxy", "wss_proxy", "ws_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_every_truebar_connection_goes_through_https_proxy(
    tls_sim: Sim, pki: Pki, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    reply = await transcribe_with(tls_sim, PCM, ca_file=str(pki.ca_file), discovery_interval=60)
    assert reply.text == FIXTURE.text
    host = tls_sim.url.removeprefix("https://")
    assert proxy.tunnels and set(proxy.tunnels) == {host}
    # The WebSocket too: the whole utterance's audio went up the proxy's tunnels.
    assert proxy.upstream_bytes > len(PCM)


async def test_token_endpoint_is_reached_through_the_proxy_alone(
    tls_sim: Sim, pki: Pki, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    """The token request by itself, so that the tunnel it opens is its own (aiohttp's
    trust_env is off: the bridge passes every request its proxy)."""
    clean_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    settings = bridge_settings(tls_sim, ca_file=str(pki.ca_file))
    async with new_http_session(settings) as http:
        assert await CredentialsCache(http, settings).access_token()
    assert proxy.tunnels == [tls_sim.url.removeprefix("https://")]


async def test_no_proxy_exempts_a_host(
    tls_sim: Sim, pki: Pki, proxy: ConnectProxy, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    reply = await transcribe_with(tls_sim, PCM, ca_file=str(pki.ca_file))
    assert reply.text == FIXTURE.text
    assert proxy.tunnels == []


def run_check(sim_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [command("wyoming-truebar"), "--check", *args],
        env=bridge_env(sim_url, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def sim_process_url(tmp_path: Path) -> Iterator[str]:
    """A recognising simulator process (the check runs as a process against it)."""
    port = free_port()
    users = ["--user", "demo:demo", "--user", "listener:pw", "--roles", "listener:STAGE_ASR"]
    proc = launch([command("truebar-sim"), "--port", str(port), *users], dict(os.environ), port)
    wait_listening(proc)
    yield f"http://127.0.0.1:{port}"
    proc.stop_now()


def test_check_passes_against_a_healthy_simulator(sim_process_url: str) -> None:
    done = run_check(sim_process_url)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line[:6] for line in lines] == ["[ ok ]"] * 9, done.stdout
    assert "(as said)" in lines[-3]
    assert lines[-2].startswith("[ ok ] 8. stream conventions: interims every")
    assert lines[-1].startswith("[ ok ] 9. Home Assistant's sentences and names: ")
    assert "home-assistant-intents 2026." in lines[-1]
    assert "languages de, en, sl" in lines[-1]
    assert "names: none (no hass_url)" in lines[-1]


def test_check_names_the_setting_to_fix_and_never_the_password(sim_process_url: str) -> None:
    password = "Wr0ng-Pa55word!"
    done = run_check(sim_process_url, TRUEBAR_PASSWORD=password)
    assert done.returncode == 1
    out = done.stdout + done.stderr
    assert "[FAIL] 3. credentials accepted" in out
    assert "invalid_grant" in out
    assert "TRUEBAR_PASSWORD" in out
    assert password not in out
    assert out.count("[skip]") == 6


def test_check_tells_a_missing_streaming_role(sim_process_url: str) -> None:
    done = run_check(sim_process_url, TRUEBAR_USERNAME="listener", TRUEBAR_PASSWORD="pw")
    assert done.returncode == 1
    assert "[FAIL] 4. streaming role: the user lacks PIPELINE_ONLINE_API" in done.stdout


async def test_missing_streaming_role_is_auth_failed_at_once(sim: Sim) -> None:
    sim.state.tokens.roles["demo"] = ("STAGE_ASR",)  # no PIPELINE_ONLINE_API: upgrade 403
    watched = await watch_with(sim, PCM)
    assert watched.error is not None
    assert watched.error[1] == "auth_failed"
    assert watched.error[0] < 1.0


def test_unusable_ca_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("this is not PEM\n")
    done = subprocess.run(
        [command("wyoming-truebar"), "--ca-file", str(bogus)],
        env=bridge_env("http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"wyoming-truebar: error: setting 'ca_file' (--ca-file, env TRUEBAR_CA_FILE): cannot "
        f"load {bogus} as a PEM bundle of CA certificates (SSLError)"
    ]
