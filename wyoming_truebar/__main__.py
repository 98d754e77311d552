"""Command line of `wyoming-truebar`: wire settings, HTTP session, credentials and server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

import aiohttp

from . import __version__
from .app.announce import register_with_supervisor, start_zeroconf
from .app.check import Verdict, run_check
from .app.http_api import start_http
from .app.loop_lag import watch_loop
from .app.memory import return_free_memory
from .config.settings import Settings, SettingsError, add_arguments, dumps_public, load_settings
from .home.home_names import HomeAssistantNames, access
from .server.context import BridgeContext
from .server.languages import tag_language
from .server.server import BridgeServer
from .truebar.credentials import CredentialsCache
from .truebar.discovery import Discovery
from .truebar.network import new_http_session, redact, tls_context, verified_context

_LOGGER = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser (every setting has a flag; secrets do not)."""
    parser = argparse.ArgumentParser(
        prog="wyoming-truebar",
        allow_abbrev=False,  # or --password would silently mean --password-file
        description="Wyoming speech-to-text server streaming to Truebar. Every setting can also "
        "be given as env TRUEBAR_<NAME> or in the --config file. The password is read from "
        "TRUEBAR_PASSWORD, the config file, or --password-file; never from the command line.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the set-up (settings, token endpoint, credentials, role, discovery, a "
        "session, a short utterance) step by step, print a verdict per step, and exit: 0 if "
        "every step passes",
    )
    add_arguments(parser)
    return parser


def build_context(settings: Settings, http: aiohttp.ClientSession) -> BridgeContext:
    """Return the state shared by all connections."""
    return BridgeContext(settings=settings, http=http, credentials=CredentialsCache(http, settings))


def start_home(ctx: BridgeContext, environ: Mapping[str, str]) -> asyncio.Task[None]:
    """Start reading the home's names from Home Assistant (if the settings or the Supervisor
    give access), and load the offered languages' sentences in the background."""
    where = access(ctx.settings, environ)
    offered = [tag_language(tag) for tag in ctx.languages.tags]
    if where is not None:
        ctx.home = HomeAssistantNames(
            ctx.http,
            where,
            ctx.completeness.set_names,
            ctx.settings.hass_names_refresh,
            verified_context(ctx.settings),
        )
        ctx.home.start()
    _LOGGER.info(
        "Home Assistant's sentences: %s; names %s",
        ctx.completeness.describe(offered),
        f"from {where.source} ({redact(where.url)})" if where else "as wildcards (no hass_url)",
    )
    warming = ctx.completeness.warm(offered, ctx.languages.default().language)
    return asyncio.create_task(warming, name="load sentences")


def build_discovery(ctx: BridgeContext) -> Discovery:
    """Return the background discovery that keeps ctx's offer current."""
    return Discovery(ctx.http, ctx.credentials, ctx.settings, ctx.apply_catalog)


async def main(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully."""
    if not settings.verify_tls:
        _LOGGER.warning(
            "TLS certificate verification is OFF (verify_tls=false): anyone on the path can "
            "read the password and the audio; for a private CA set ca_file instead"
        )
    _LOGGER.debug("Settings: %s", dumps_public(settings))
    async with new_http_session(settings) as http:
        ctx = build_context(settings, http)
        server = BridgeServer(ctx)
        discovery = build_discovery(ctx)
        discovery.start()
        sentences = start_home(ctx, os.environ)
        if settings.uri.startswith("stdio://"):
            await server.serve_stdio()
            await discovery.stop()
            await stop_home(ctx, sentences)
            return
        await server.start(settings.uri)
        checking = start_check(settings, http) if settings.startup_check else None
        # Everything built so far (modules, settings, Info) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise scan it again and
        # again while hundreds of utterances are in flight (pauses show in the p99).
        gc.freeze()
        trimming = asyncio.create_task(return_free_memory(), name="return free memory")
        watching = asyncio.create_task(watch_loop(ctx.metrics.loop_lag.observe), name="loop lag")
        http_runner = None
        if settings.http_port is not None:
            http_runner, _ = await start_http(ctx, settings.http_port)
        zeroconf = await start_zeroconf(settings, server.address)
        supervisor = asyncio.create_task(register_with_supervisor(http, settings, server.address))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        _LOGGER.info("Stopping")
        trimming.cancel()
        watching.cancel()
        if checking is not None:
            checking.cancel()
        supervisor.cancel()
        if zeroconf is not None:
            await zeroconf.async_close()
        await server.stop(settings.shutdown_grace)
        if http_runner is not None:
            await http_runner.cleanup()
        await discovery.stop()
        await stop_home(ctx, sentences)


async def stop_home(ctx: BridgeContext, sentences: asyncio.Task[None]) -> None:
    """Stop reading the home's names and the sentences' thread."""
    sentences.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await sentences
    if ctx.home is not None:
        await ctx.home.stop()
    ctx.completeness.close()


def start_check(settings: Settings, http: aiohttp.ClientSession) -> asyncio.Task[bool]:
    """Run the set-up check in the background, logging each verdict (startup_check)."""

    def log(verdict: Verdict) -> None:
        level = logging.WARNING if verdict.ok is False else logging.INFO
        _LOGGER.log(level, "Set-up check %s", verdict.line().replace("\n      ", ""))

    return asyncio.create_task(run_check(settings, http, log), name="set-up check")


async def check(settings: Settings) -> bool:
    """`--check`: print each step's verdict; True if all pass."""
    async with new_http_session(settings) as http:
        return await run_check(settings, http, lambda v: print(v.line(), flush=True))


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `wyoming-truebar` command."""
    checking = "--check" in (sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(argv, parser=build_parser())
        tls_context(settings)  # a ca_file that cannot be used stops start-up here
    except SettingsError as err:
        if checking:
            print(f"[FAIL] 1. settings: {err}", flush=True)
        print(f"wyoming-truebar: error: {err}", file=sys.stderr)
        sys.exit(2)
    if checking:
        logging.basicConfig(level=logging.DEBUG if settings.debug else logging.ERROR)
        sys.exit(0 if asyncio.run(check(settings)) else 1)
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not settings.debug:
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    if settings.clamped:
        _LOGGER.warning("Settings: %s", "; ".join(settings.clamped))
    asyncio.run(main(settings))


if __name__ == "__main__":
    run()
