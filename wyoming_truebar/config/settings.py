"""Settings: the option table merged CLI > env > config file > defaults, validated by one schema."""

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

from .options import OPTIONS, env_name

__all__ = ["OPTIONS", "Settings", "SettingsError", "env_name", "load_settings", "merge"]


class SettingsError(Exception):
    """A bad or missing setting; the message is one line naming it."""


_BY_NAME = {o.name: o for o in OPTIONS}
SCHEMA = vol.Schema({vol.Required(o.name): o.rule for o in OPTIONS})


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings; the secrets (password, hass_token) never show in a repr."""

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
    answer_deadline: float
    finish_timeout: float
    frame_ms: int
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
    ca_file: str | None
    verify_tls: bool
    token_in_url: bool
    startup_check: bool
    enable_interims: bool
    endpointing: bool
    endpoint_silence_ms: int
    endpoint_max_silence_ms: int
    endpoint_words: tuple[tuple[str, frozenset[str]], ...]
    endpoint_modifier_silence_ms: int
    endpoint_modifier_words: tuple[tuple[str, frozenset[str]], ...]
    endpoint_sentences: bool
    endpoint_sentences_process: bool
    endpoint_complete_silence_ms: int
    endpoint_extendable_silence_ms: int
    endpoint_target_silence_ms: int
    endpoint_incomplete_silence_ms: int
    hass_url: str | None
    hass_token: str | None = field(repr=False)
    hass_token_file: str | None
    hass_names_refresh: float
    endpoint_tail_ms: int
    requires_external_vad: bool
    prefers_auto_gain_enabled: bool
    prefers_noise_reduction_enabled: bool
    debug: bool
    clamped: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """What was clamped to answer_deadline (logged once at start-up)."""

    @property
    def tags(self) -> tuple[str, ...]:
        """The ASR tags in use: the forced one, or the offered list."""
        return self.asr_tag or self.asr_tags


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
    for secret in ("password", "hass_token"):
        if values[f"{secret}_file"]:
            values[secret] = _read_secret(f"{secret}_file", values[f"{secret}_file"])
    if values["hass_url"] and not values["hass_token"]:
        raise SettingsError(f"{_describe('hass_url')} needs hass_token or hass_token_file")
    for required in ("username", "password"):
        if not values[required]:
            hint = " or password_file" if required == "password" else ""
            raise SettingsError(f"{_describe(required)}{hint} is required")
    _check_endpointing(values)
    clamped = []
    for name in BUDGETED:  # old configurations stay valid: a wait longer than the budget
        if values[name] > values["answer_deadline"]:
            clamped.append(
                f"{name} {values[name]:g} s is above answer_deadline "
                f"{values['answer_deadline']:g} s: using {values['answer_deadline']:g} s"
            )
            values[name] = values["answer_deadline"]
    values["clamped"] = tuple(clamped)
    return Settings(**{f.name: values[f.name] for f in fields(Settings)})


def _read_secret(name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise SettingsError(f"{_describe(name)}: cannot read the file") from err


ORDERED_WAITS = (
    ("endpoint_complete_silence_ms", "endpoint_silence_ms"),
    ("endpoint_complete_silence_ms", "endpoint_extendable_silence_ms"),
    ("endpoint_extendable_silence_ms", "endpoint_target_silence_ms"),
    ("endpoint_target_silence_ms", "endpoint_incomplete_silence_ms"),
    ("endpoint_silence_ms", "endpoint_modifier_silence_ms"),
    ("endpoint_modifier_silence_ms", "endpoint_max_silence_ms"),
    ("endpoint_silence_ms", "endpoint_incomplete_silence_ms"),
    ("endpoint_incomplete_silence_ms", "endpoint_max_silence_ms"),
    ("endpoint_tail_ms", "endpoint_max_silence_ms"),
)
"""Endpointing waits that must not pass each other: a long silence shorter than the modifier
silence or the tail would silently remove those waits."""


def _check_endpointing(values: Mapping[str, Any]) -> None:
    """The endpointing waits, against each other (see ORDERED_WAITS)."""
    for shorter, longer in ORDERED_WAITS:
        if values[shorter] > values[longer] or (
            longer == "endpoint_max_silence_ms" and values[shorter] == values[longer]
        ):
            raise SettingsError(
                f"{_describe(shorter)} is {values[shorter]} ms, which is not below "
                f"{_describe(longer)} ({values[longer]} ms): "
                f"{shorter} must be shorter than {longer}"
            )


BUDGETED = ("finish_timeout", "reconnect_deadline")
"""Waits after the end of speech that are caps inside answer_deadline."""


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
    cli = {k: v for k, v in args.items() if k in _BY_NAME}  # not actions such as --check
    return merge(cli, environ, read_config_file(config_path))


def dumps_public(settings: Settings) -> str:
    """Return the settings as JSON for the debug log, with the secrets left out."""
    secrets = ("password", "hass_token")
    public = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in secrets}
    return json.dumps(public, default=lambda v: list(v) if isinstance(v, tuple) else str(v))


TABLE_BEGIN = "<!-- The settings table is generated by script/update-docs"
TABLE_END = "<!-- end of the generated settings table -->"


def with_table(page: str) -> str:
    """The page (docs/configuration.md) with the settings table between its markers
    regenerated from OPTIONS; unchanged if the table is current."""
    start = page.index("\n", page.index(TABLE_BEGIN)) + 1
    end = page.index(TABLE_END)
    return page[:start] + markdown_table() + "\n" + page[end:]


def markdown_table() -> str:
    """Return the settings table of docs/configuration.md (tests/test_docs.py keeps the page
    in step with OPTIONS; bash script/update-docs regenerates it)."""
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
