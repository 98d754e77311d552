"""Settings: one table, merged CLI > env > config file > defaults, validated by one schema."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

ENV_PREFIX = "TRUEBAR_"
DEFAULT_TAGS = ("KALDI:sl-SI:*:*", "KALDI:en-US:*:*", "KALDI:de-DE:*:*")


class SettingsError(Exception):
    """A bad or missing setting; the message is one line naming it."""


def _tags(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    tags = tuple(str(t).strip() for t in items if str(t).strip())
    for tag in tags:
        if len(tag.split(":")) != 4:
            raise vol.Invalid(f"tag {tag!r} is not FRAMEWORK:language:domain:version")
    if not tags:
        raise vol.Invalid("at least one tag is needed")
    return tags


def _url(schemes: tuple[str, ...]) -> Any:
    def check(value: Any) -> str:
        text = str(value)
        if not text.startswith(tuple(s + "://" for s in schemes)):
            raise vol.Invalid(f"must start with {' or '.join(s + '://' for s in schemes)}")
        return text

    return check


def _networks(value: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    try:
        return tuple(
            ipaddress.ip_network(str(i).strip(), strict=False) for i in items if str(i).strip()
        )
    except ValueError as err:
        raise vol.Invalid(f"not a network in CIDR form ({err})") from err


def _overrides(value: Any) -> tuple[tuple[str, str], ...]:
    """`sl=KALDI:sl-SI:COL:v,en=...` (or a mapping in the file) → ((language, tag), ...)."""
    if isinstance(value, dict):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        items = value.split(",") if isinstance(value, str) else list(value or [])
        pairs = []
        for item in (str(i).strip() for i in items):
            language, sep, tag = item.partition("=")
            if not item:
                continue
            if not sep or not language.strip():
                raise vol.Invalid(f"{item!r} is not LANGUAGE=TAG")
            pairs.append((language.strip(), tag.strip()))
    for _, tag in pairs:
        _tags(tag)
    return tuple(pairs)


def _list(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return tuple(str(i).strip() for i in items if str(i).strip())


def _seconds(low: float = 0.1, high: float = 3600) -> Any:
    return vol.All(vol.Coerce(float), vol.Range(min=low, max=high))


_BOOL = vol.Boolean()
_OPT_STR = vol.Any(None, vol.All(str, vol.Length(min=1)))


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its name (key in the file, env TRUEBAR_<NAME>, flag --<name>), rule, help."""

    name: str
    default: Any
    rule: Any
    help: str
    flag: bool = True
    """False for secrets: they never go on a command line (env or file only)."""
    const: Any = None
    """If set, the flag's value is optional and this is used when it is left out."""


OPTIONS: tuple[Option, ...] = (
    Option(
        "uri",
        "tcp://0.0.0.0:10300",
        _url(("tcp", "unix", "stdio")),
        "Wyoming address to serve: tcp://HOST:PORT, unix://PATH or stdio://",
    ),
    Option("username", None, _OPT_STR, "Truebar user (a service user with the online role)"),
    Option("password", None, _OPT_STR, "Truebar password (env or config file only)", flag=False),
    Option(
        "password_file", None, _OPT_STR, "file holding the Truebar password (container secrets)"
    ),
    Option("client_id", "truebar-client", str, "OAuth client id"),
    Option(
        "auth_url",
        "https://auth.true-bar.si/realms/truebar/protocol/openid-connect/token",
        _url(("http", "https")),
        "token endpoint URL",
    ),
    Option("api_base_url", "https://api.true-bar.si", _url(("http", "https")), "REST API base URL"),
    Option(
        "stt_ws_url",
        "wss://api.true-bar.si/api/pipelines/stream",
        _url(("ws", "wss")),
        "streaming WebSocket URL",
    ),
    Option(
        "asr_tag",
        None,
        vol.Any(None, vol.All(_tags, vol.Length(max=1))),
        "force this one ASR tag for every utterance (e.g. KALDI:en-US:*:*)",
    ),
    Option(
        "asr_tags",
        DEFAULT_TAGS,
        _tags,
        "comma-separated ASR tags to offer; their languages are advertised to clients",
    ),
    Option(
        "asr_tag_overrides",
        (),
        _overrides,
        "per-language tags that win over discovery, "
        "e.g. sl=KALDI:sl-SI:COL:20221208-0800,en=KALDI:en-US:*:*",
    ),
    Option(
        "discovery_interval",
        3600.0,
        vol.Any(0, _seconds(10, 86400)),
        "seconds between stage discoveries (0: off, offer asr_tags only)",
    ),
    Option(
        "nlp_tasks",
        (),
        _list,
        "NLP stages after ASR, each TASK (all languages) or "
        "LANGUAGE:TASK, e.g. NLP_pc or sl:NLP_pc; tags come from discovery; policy SKIP",
    ),
    Option(
        "streaming",
        True,
        _BOOL,
        "stream committed text as transcript-chunk events while "
        "the user speaks (wyoming >= 1.7 clients)",
    ),
    Option(
        "default_language",
        None,
        _OPT_STR,
        "language used when a client asks for one with no tag (default: the first tag's)",
    ),
    Option(
        "strict_language",
        False,
        _BOOL,
        "refuse an unknown language with an error instead of using the default",
    ),
    Option("token_timeout", 10.0, _seconds(), "seconds for one token request"),
    Option("connect_timeout", 5.0, _seconds(), "seconds for the WebSocket connect and upgrade"),
    Option("setup_timeout", 5.0, _seconds(), "seconds to wait for INITIALIZED and CONFIGURED"),
    Option("finish_timeout", 5.0, _seconds(), "seconds to wait for FINISHED after audio-stop"),
    Option(
        "heartbeat",
        10.0,
        _seconds(1),
        "seconds between WebSocket pings; a missing pong ends a dead connection",
    ),
    Option(
        "idle_timeout",
        30.0,
        _seconds(),
        "seconds a client may stay silent (no event) before it is disconnected",
    ),
    Option(
        "max_utterance_seconds",
        60.0,
        _seconds(1, 600),
        "longest utterance, in seconds of audio (bounds the replay buffer)",
    ),
    Option(
        "max_sessions",
        200,
        vol.All(vol.Coerce(int), vol.Range(min=1, max=10000)),
        "most utterances served at once; one more gets the error `busy`",
    ),
    Option(
        "max_event_bytes",
        1 << 20,
        vol.All(vol.Coerce(int), vol.Range(min=4096)),
        "largest Wyoming event (header, data and payload) accepted, in bytes",
    ),
    Option(
        "reconnect_attempts",
        3,
        vol.All(vol.Coerce(int), vol.Range(min=1, max=10)),
        "Truebar connections tried per utterance before giving up",
    ),
    Option(
        "reconnect_deadline",
        10.0,
        _seconds(),
        "seconds after audio-stop within which reconnects may still start",
    ),
    Option(
        "allowed_networks",
        (),
        _networks,
        "comma-separated client networks (CIDR) allowed "
        "to connect; empty allows all (the Wyoming protocol has no authentication)",
    ),
    Option(
        "shutdown_grace",
        10.0,
        _seconds(0, 600),
        "seconds utterances in flight may take to finish after SIGTERM",
    ),
    Option(
        "http_port",
        None,
        vol.Any(None, vol.All(vol.Coerce(int), vol.Range(min=0, max=65535))),
        "port of the HTTP API (/healthz, /metrics), bound on --uri's host; off unless set "
        "(0 picks a free port)",
    ),
    Option(
        "log_transcripts",
        False,
        _BOOL,
        "include the transcript text in the INFO line of each utterance",
    ),
    Option(
        "zeroconf",
        None,
        _OPT_STR,
        "advertise the server over mDNS (zeroconf) under this "
        "name; --zeroconf alone uses 'truebar'",
        const="truebar",
    ),
    Option(
        "zeroconf_host",
        None,
        _OPT_STR,
        "address to advertise instead of the bound one (NAT, containers)",
    ),
    Option(
        "zeroconf_port",
        None,
        vol.Any(None, vol.All(vol.Coerce(int), vol.Range(1, 65535))),
        "port to advertise instead of the bound one",
    ),
    Option(
        "supervisor_url",
        "http://supervisor",
        _url(("http", "https")),
        "Supervisor API (as an add-on, the server registers there once it answers describe)",
    ),
    Option(
        "verify_tls",
        True,
        _BOOL,
        "verify Truebar's TLS certificates (turn off only for self-signed test deployments)",
    ),
    Option("enable_interims", False, _BOOL, "ask Truebar for interim segments (not needed)"),
    Option("debug", False, _BOOL, "log at DEBUG"),
)

_BY_NAME = {o.name: o for o in OPTIONS}
SCHEMA = vol.Schema({vol.Required(o.name): o.rule for o in OPTIONS})


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings; the password never shows in a repr."""

    uri: str
    username: str
    password: str = field(repr=False)
    password_file: str | None
    client_id: str
    auth_url: str
    api_base_url: str
    stt_ws_url: str
    asr_tag: tuple[str, ...] | None
    asr_tags: tuple[str, ...]
    asr_tag_overrides: tuple[tuple[str, str], ...]
    discovery_interval: float
    nlp_tasks: tuple[str, ...]
    streaming: bool
    default_language: str | None
    strict_language: bool
    token_timeout: float
    connect_timeout: float
    setup_timeout: float
    finish_timeout: float
    heartbeat: float
    idle_timeout: float
    max_utterance_seconds: float
    max_sessions: int
    max_event_bytes: int
    reconnect_attempts: int
    reconnect_deadline: float
    zeroconf: str | None
    zeroconf_host: str | None
    zeroconf_port: int | None
    supervisor_url: str
    http_port: int | None
    log_transcripts: bool
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    shutdown_grace: float
    verify_tls: bool
    enable_interims: bool
    debug: bool

    @property
    def tags(self) -> tuple[str, ...]:
        """The ASR tags in use: the forced one, or the offered list."""
        return self.asr_tag or self.asr_tags


def env_name(name: str) -> str:
    """Return the environment variable of a setting."""
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --config and a flag per setting (defaults suppressed, so only given flags count)."""
    parser.add_argument("--config", help="YAML or JSON file of settings (env TRUEBAR_CONFIG)")
    for option in OPTIONS:
        if not option.flag:
            continue
        default = option.default
        shown = ",".join(default) if isinstance(default, tuple) else default
        shown = "(none)" if shown in ("", None) else shown
        extra: dict[str, Any] = {}
        if option.const is not None:
            extra.update(nargs="?", const=option.const)
        if isinstance(default, bool):
            extra["action"] = argparse.BooleanOptionalAction
        parser.add_argument(
            "--" + option.name.replace("_", "-"),
            default=argparse.SUPPRESS,
            help=f"{option.help} (env {env_name(option.name)}; default: {shown})",
            **extra,
        )


def read_config_file(path: str | None) -> dict[str, Any]:
    """Read a YAML or JSON settings file (JSON is YAML too)."""
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise SettingsError(f"config file {path}: cannot read it ({type(err).__name__})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path}: expected a mapping of settings")
    for key in data:
        if key not in _BY_NAME:
            raise SettingsError(f"config file {path}: unknown setting {key!r}")
    return data


def _describe(name: str) -> str:
    flag = f"--{name.replace('_', '-')}, " if _BY_NAME[name].flag else ""
    return f"setting {name!r} ({flag}env {env_name(name)})"


def merge(cli: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]) -> Settings:
    """Merge the sources (CLI > env > file > defaults), validate, and resolve the password."""
    merged = {o.name: o.default for o in OPTIONS}
    merged.update(file)
    merged.update({o.name: env[env_name(o.name)] for o in OPTIONS if env_name(o.name) in env})
    merged.update(cli)
    try:
        values = SCHEMA(merged)
    except vol.MultipleInvalid as err:
        first = err.errors[0]
        name = str(first.path[0]) if first.path else "?"
        # Never echo the value: it may be a secret.
        raise SettingsError(f"{_describe(name)}: {first.error_message}") from None
    if values["password_file"]:
        try:
            values["password"] = Path(values["password_file"]).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SettingsError(f"{_describe('password_file')}: cannot read the file") from err
    for required in ("username", "password"):
        if not values[required]:
            hint = " or password_file" if required == "password" else ""
            raise SettingsError(f"{_describe(required)}{hint} is required")
    return Settings(**{f.name: values[f.name] for f in fields(Settings)})


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    parser: argparse.ArgumentParser | None = None,
) -> Settings:
    """Parse the command line, read the environment and the config file, return Settings."""
    environ = os.environ if environ is None else environ
    parser = parser or argparse.ArgumentParser(prog="wyoming-truebar", allow_abbrev=False)
    if not any(a.dest == "config" for a in parser._actions):
        add_arguments(parser)
    args = vars(parser.parse_args(argv))
    config_path = args.pop("config", None) or environ.get(env_name("config"))
    return merge(args, environ, read_config_file(config_path))


def dumps_public(settings: Settings) -> str:
    """Return the settings as JSON for the debug log, with the password left out."""
    public = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "password"}
    return json.dumps(public, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


def markdown_table() -> str:
    """Return the README's settings table (a test keeps the README in step with OPTIONS)."""
    rows = ["| setting (file key) | env | flag | default | meaning |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        default = ",".join(map(str, o.default)) if isinstance(o.default, tuple) else o.default
        shown = "—" if default in (None, "") else f"`{default}`"
        flag = f"`--{o.name.replace('_', '-')}`" if o.flag else "(none: secret)"
        rows.append(f"| `{o.name}` | `{env_name(o.name)}` | {flag} | {shown} | {o.help} |")
    return "\n".join(rows)


def example_config() -> str:
    """Return config/wyoming-truebar.example.yaml: every setting, commented out, with its help."""
    lines = [
        "# wyoming-truebar settings (use with --config FILE or TRUEBAR_CONFIG=FILE).",
        "# Every setting is shown with its default, commented out. Precedence:",
        "# command-line flag > environment (TRUEBAR_<NAME>) > this file > default.",
        "",
    ]
    for o in OPTIONS:
        default = list(o.default) if isinstance(o.default, tuple) else o.default
        lines.append(f"# {o.help} (env {env_name(o.name)})")
        lines.append(
            "# "
            + yaml.safe_dump({o.name: default}, default_flow_style=True, width=1000)
            .strip()
            .strip("{}")
        )
        lines.append("")
    return "\n".join(lines)
