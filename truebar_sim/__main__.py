"""Command line of `truebar-sim`: serve the simulated Truebar service on loopback."""

from __future__ import annotations

import argparse
import logging
import ssl
from pathlib import Path

from aiohttp import web

from .app import STATE_KEY, TOKEN_PATH, AccessLogger, build_app
from .conventions import PRESETS, Conventions, preset
from .fixtures import default_phrases, load_slovenian_fixtures
from .script import Script, script_entries
from .state import Faults, RecognitionMode, SimSettings

EPILOG = f"""
endpoints (on http://HOST:PORT):
  POST {TOKEN_PATH}   (also under /auth) token endpoint
  GET  /api/info, GET /api/pipelines/stages (bearer), WS /api/pipelines/stream (bearer)
  GET  /_sim/counters, GET|POST /_sim/faults, GET|POST /_sim/conventions,
  POST /_sim/reset, GET /_sim/tokens, POST /_sim/rehearse (audio body: decode what live
  sessions of it will ask for, ahead of them)  (control)

The control endpoint takes the same faults as the flags, as JSON, e.g.
  curl -X POST -d '{{"unauthorized_upgrades": 1}}' http://127.0.0.1:8780/_sim/faults
and the conventions by preset or field, e.g.
  curl -X POST -d '{{"preset": "provisional_250"}}' http://127.0.0.1:8780/_sim/conventions
"""


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def _roles(value: str) -> tuple[str, tuple[str, ...]]:
    name, sep, roles = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:ROLE,ROLE,...")
    return name, tuple(r.strip() for r in roles.split(",") if r.strip())


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (every option documented)."""
    p = argparse.ArgumentParser(
        prog="truebar-sim",
        allow_abbrev=False,
        description="A local stand-in for the Truebar streaming speech-to-text service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument(
        "--port",
        type=int,
        default=8780,
        help="port to bind; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument(
        "--user",
        type=_user,
        action="append",
        metavar="NAME:PASSWORD",
        help="an account that may log in (repeatable; default: demo:demo)",
    )
    p.add_argument(
        "--roles",
        type=_roles,
        action="append",
        metavar="NAME:ROLE,...",
        help="give a user only these realm roles (default: all of PIPELINE_ONLINE_API, "
        "STAGE_ASR, STAGE_NLP_PC); without PIPELINE_ONLINE_API the upgrade is answered 403, "
        "without a stage's role a CONFIG using it is answered with ERROR",
    )
    p.add_argument("--client-id", default="truebar-client", help="accepted OAuth client id")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS/WSS with this cert")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="... and this private key")
    p.add_argument(
        "--access-lifetime",
        type=int,
        default=900,
        help="seconds an access token lives (default: %(default)s)",
    )
    p.add_argument(
        "--refresh-lifetime",
        type=int,
        default=1800,
        help="seconds a refresh token lives (default: %(default)s)",
    )
    p.add_argument(
        "--mode",
        choices=[m.value for m in RecognitionMode],
        default="sphinx",
        help="sphinx: real recognition on the phrase grammar; bytes: the final text "
        "is the number of audio bytes received (cheap, for load tests)",
    )
    p.add_argument(
        "--phrases",
        type=Path,
        metavar="FILE",
        help="phrase list, one per line (default: the bundled fixtures' phrases)",
    )
    p.add_argument(
        "--conventions",
        choices=sorted(PRESETS),
        default="default",
        metavar="PRESET",
        help="the stream conventions the docs leave open, by preset (interim cadence, "
        "provisional last words, token offsets, punctuation times, network delay ...; "
        "docs/simulator.md lists them; switchable at run time over /_sim/conventions): "
        f"{', '.join(sorted(PRESETS))} (default: %(default)s)",
    )
    p.add_argument(
        "--scripts",
        choices=["none", "bundled"],
        default="none",
        help="bundled: hear the bundled Slovenian fixtures by their known words and times "
        "(a language with no model here; tests register their own over POST /_sim/scripts) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--interim-interval-ms",
        type=int,
        help="milliseconds of audio between interim segments when enableInterims is set "
        "(0: none; default: the preset's, 250)",
    )
    p.add_argument(
        "--final-pause-ms",
        type=int,
        help="a final segment after this much trailing silence, as Kaldi's endpointing sends "
        "one (0: finals only at EOS; default: the preset's, 500)",
    )
    p.add_argument(
        "--final-lookahead-ms",
        type=int,
        default=150,
        help="the final at EOS drops words that end less than this long before the end of the "
        "audio (a recogniser's right context; 0: keep every word; default: %(default)s)",
    )
    p.add_argument(
        "--final-max-ms",
        type=int,
        default=20000,
        help="a final at least every this much audio of one segment (0: never; default: "
        "%(default)s)",
    )
    faults = p.add_argument_group("faults (also settable at run time via /_sim/faults)")
    faults.add_argument(
        "--unavailable-upgrades",
        type=int,
        default=0,
        metavar="N",
        help="refuse the next N WebSocket upgrades with HTTP 503",
    )
    faults.add_argument(
        "--unauthorized-upgrades",
        type=int,
        default=0,
        metavar="N",
        help="refuse the next N WebSocket upgrades with HTTP 401",
    )
    faults.add_argument(
        "--error-after-config",
        type=int,
        default=0,
        metavar="N",
        help="answer the next N CONFIGs with ERROR, then close",
    )
    faults.add_argument(
        "--drop-after-bytes",
        type=int,
        metavar="BYTES",
        help="drop the connection abruptly after this many audio bytes",
    )
    faults.add_argument(
        "--drop-sessions",
        type=int,
        default=0,
        metavar="N",
        help="how many sessions --drop-after-bytes applies to",
    )
    faults.add_argument(
        "--finished-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long after EOS before the finals and FINISHED",
    )
    faults.add_argument(
        "--never-finish",
        type=int,
        default=0,
        metavar="N",
        help="the next N sessions never send FINISHED",
    )
    faults.add_argument(
        "--token-endpoint-down", action="store_true", help="the token endpoint answers 503"
    )
    faults.add_argument(
        "--message-type-key",
        choices=["type", "messageType"],
        default="type",
        help="discriminator key of outgoing messages",
    )
    faults.add_argument(
        "--split-finals",
        action="store_true",
        help="send the final text as one final segment per word",
    )
    faults.add_argument("--warning", action="store_true", help="send a WARNING after CONFIGURED")
    faults.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every server message and the upgrade arrive this late (a simulated WAN: "
        "messages sent back to back still arrive back to back)",
    )
    p.add_argument(
        "--decoders",
        type=int,
        default=1,
        metavar="N",
        help="decoder processes for real recognition: as many streams decode at once, and the "
        "service keeps answering while they do; 0 decodes on the event loop (default: "
        "%(default)s)",
    )
    p.add_argument("--debug", action="store_true", help="log at DEBUG")
    return p


def _conventions(args: argparse.Namespace) -> Conventions:
    conventions = preset(args.conventions)
    for name in ("interim_interval_ms", "final_pause_ms"):
        if getattr(args, name) is not None:
            conventions.update({name: getattr(args, name)})
    return conventions


def run() -> None:
    """Entry point of the `truebar-sim` command."""
    args = build_parser().parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.phrases:
        phrases = [ln.strip() for ln in args.phrases.read_text().splitlines() if ln.strip()]
    else:
        phrases = default_phrases()
    settings = SimSettings(
        host=args.host,
        port=args.port,
        users=dict(args.user or [("demo", "demo")]),
        roles=dict(args.roles or []),
        client_id=args.client_id,
        access_lifetime=args.access_lifetime,
        refresh_lifetime=args.refresh_lifetime,
        mode=RecognitionMode(args.mode),
        phrases=tuple(phrases),
        conventions=_conventions(args),
        final_max_ms=args.final_max_ms,
        final_lookahead_ms=args.final_lookahead_ms,
        decoders=max(0, args.decoders),
    )
    faults = Faults(
        unauthorized_upgrades=args.unauthorized_upgrades,
        unavailable_upgrades=args.unavailable_upgrades,
        error_after_config=args.error_after_config,
        drop_after_bytes=args.drop_after_bytes,
        drop_sessions=args.drop_sessions,
        finished_delay=args.finished_delay,
        never_finish=args.never_finish,
        token_endpoint_down=args.token_endpoint_down,
        message_type_key=args.message_type_key,
        split_finals=args.split_finals,
        warning=args.warning,
        latency=args.latency,
    )
    tls = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            raise SystemExit("truebar-sim: --tls-cert and --tls-key go together")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    app = build_app(settings, faults)
    if args.scripts == "bundled":
        entries = script_entries(load_slovenian_fixtures())["scripts"]
        scripts = [Script.from_json(entry) for entry in entries]
        app[STATE_KEY].scripts.update((script.blocks, script) for script in scripts)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        ssl_context=tls,
        access_log_class=AccessLogger,
        print=lambda msg: print(msg, flush=True),
    )


if __name__ == "__main__":
    run()
