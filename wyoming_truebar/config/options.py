"""The settings table: every option's name, default, validation rule and help (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from . import validators as rule

ENV_PREFIX = "TRUEBAR_"
DEFAULT_TAGS = ("KALDI:sl-SI:*:*", "KALDI:en-US:*:*", "KALDI:de-DE:*:*")


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
        rule.url(("tcp", "unix", "stdio")),
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
        rule.url(("http", "https")),
        "token endpoint URL",
    ),
    Option(
        "api_base_url", "https://api.true-bar.si", rule.url(("http", "https")), "REST API base URL"
    ),
    Option(
        "stt_ws_url",
        "wss://api.true-bar.si/api/pipelines/stream",
        rule.url(("ws", "wss")),
        "streaming WebSocket URL",
    ),
    Option(
        "asr_tag",
        None,
        vol.Any(None, vol.All(rule.tags, vol.Length(max=1))),
        "force this one ASR tag for every utterance (e.g. KALDI:en-US:*:*)",
    ),
    Option(
        "asr_tags",
        DEFAULT_TAGS,
        rule.tags,
        "comma-separated ASR tags to offer; their languages are advertised to clients",
    ),
    Option(
        "asr_tag_overrides",
        (),
        rule.overrides,
        "per-language tags that win over discovery, "
        "e.g. sl=KALDI:sl-SI:COL:20221208-0800,en=KALDI:en-US:*:*",
    ),
    Option(
        "discovery_interval",
        3600.0,
        vol.Any(0, rule.seconds(10, 86400)),
        "seconds between stage discoveries (0: off, offer asr_tags only)",
    ),
    Option(
        "nlp_tasks",
        (),
        rule.names_list,
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
    Option("token_timeout", 10.0, rule.seconds(), "seconds for one token request"),
    Option("connect_timeout", 5.0, rule.seconds(), "seconds for the WebSocket connect and upgrade"),
    Option("setup_timeout", 5.0, rule.seconds(), "seconds to wait for INITIALIZED and CONFIGURED"),
    Option(
        "answer_deadline",
        3.0,
        rule.seconds(0.5, 60),
        "seconds from the end of speech (audio-stop, or the bridge's own end of the command) "
        "to the answer: every wait after it (token, connect, upgrade, replay, FINISHED) draws "
        "on this budget, and when it runs out the client gets the error of what failed",
    ),
    Option(
        "finish_timeout",
        3.0,
        rule.seconds(),
        "seconds to wait for FINISHED after EOS (a cap inside answer_deadline; a larger value "
        "is clamped to it)",
    ),
    Option(
        "frame_ms",
        100,
        vol.All(vol.Coerce(int), vol.Range(min=10, max=500)),
        "milliseconds of audio per frame sent to Truebar: Home Assistant's 10 ms chunks are "
        "gathered into frames this long (the rest goes out at audio-stop, with EOS, so the "
        "transcript is not delayed); longer frames cost less CPU here and at Truebar, but text "
        "committed while the user speaks can stream up to this much later",
    ),
    Option(
        "heartbeat",
        10.0,
        rule.seconds(1),
        "seconds between WebSocket pings; a missing pong ends a dead connection",
    ),
    Option(
        "idle_timeout",
        30.0,
        rule.seconds(),
        "seconds a client may stay silent (no event) before it is disconnected",
    ),
    Option(
        "max_utterance_seconds",
        60.0,
        rule.seconds(1, 600),
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
        "Truebar connections made after audio-stop, the one open at audio-stop included "
        "(while the user speaks, transient failures are retried with no count limit)",
    ),
    Option(
        "reconnect_deadline",
        3.0,
        rule.seconds(),
        "seconds after the end of speech within which tries may still start (a cap inside "
        "answer_deadline; a larger value is clamped to it; half of it caps the back-off of the "
        "token endpoint's circuit breaker)",
    ),
    Option(
        "allowed_networks",
        (),
        rule.networks,
        "comma-separated client networks (CIDR) allowed "
        "to connect; empty allows all (the Wyoming protocol has no authentication)",
    ),
    Option(
        "shutdown_grace",
        10.0,
        rule.seconds(0, 600),
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
        rule.url(("http", "https")),
        "Supervisor API (as an add-on, the server registers there once it answers describe)",
    ),
    Option(
        "ca_file",
        None,
        _OPT_STR,
        "PEM bundle of CA certificates trusted in addition to the system's, for every Truebar "
        "connection (on-premises deployments with a private CA)",
    ),
    Option(
        "verify_tls",
        True,
        _BOOL,
        "verify Truebar's TLS certificates (last resort: prefer ca_file for a private CA)",
    ),
    Option(
        "token_in_url",
        False,
        _BOOL,
        "send the access token as ?access_token= on the WebSocket URL instead of the "
        "Authorization header (for gateways that honour only that; never logged)",
    ),
    Option(
        "startup_check",
        False,
        _BOOL,
        "run the set-up check (--check) once at start, in the background, and log its "
        "verdicts (the add-on turns it on)",
    ),
    Option(
        "enable_interims",
        False,
        _BOOL,
        "ask Truebar for interim segments (endpointing asks for them anyway)",
    ),
    Option(
        "endpointing",
        True,
        _BOOL,
        "end a live command in the bridge, as soon as a short silence follows text that looks "
        "complete, and answer before the client's own silence timer (audio sent faster than "
        "real time, a recording, is never endpointed; a client may opt out per request with "
        "the transcribe event's context, endpointing set to false)",
    ),
    Option(
        "endpoint_silence_ms",
        250,
        vol.All(vol.Coerce(int), vol.Range(min=100, max=5000)),
        "milliseconds of silence after speech that end a command whose text looks complete "
        "(shorter answers sooner, but may cut off a speaker who pauses; at most "
        "endpoint_modifier_silence_ms)",
    ),
    Option(
        "endpoint_max_silence_ms",
        1000,
        vol.All(vol.Coerce(int), vol.Range(min=200, max=10000)),
        "milliseconds of silence after speech that end a command whatever its text says (a "
        'pause after "for" or "the" waits this long; longer than '
        "endpoint_modifier_silence_ms and endpoint_tail_ms)",
    ),
    Option(
        "endpoint_words",
        (),
        rule.word_lists,
        "words a complete command does not end in, per language, replacing the built-in list "
        "of that language: LANGUAGE=word word ...,LANGUAGE=... (built in for en, sl and de; a "
        "language with no list ends on the long silence only)",
    ),
    Option(
        "endpoint_modifier_silence_ms",
        650,
        vol.All(vol.Coerce(int), vol.Range(min=100, max=5000)),
        "milliseconds of silence that end a command whose last word often modifies a noun "
        '("the bedroom … light", "the front … door") or that is a question opening with an '
        'auxiliary ("is the back door … locked"): a pause there is often inside the phrase',
    ),
    Option(
        "endpoint_modifier_words",
        (),
        rule.word_lists,
        "words after which a pause waits endpoint_modifier_silence_ms, per language, replacing "
        "the built-in list of that language: LANGUAGE=word word ...,LANGUAGE=... (the built-in "
        "lists name rooms and places such as bedroom, kitchen, front, back, living; in "
        "Slovenian dnevni, spalni, sprednja, zadnja)",
    ),
    Option(
        "endpoint_sentences",
        True,
        _BOOL,
        "decide whether a paused command is complete by Home Assistant's own sentences "
        "(home-assistant-intents, matched with hassil as Home Assistant does) and the home's "
        "names (hass_url): a complete command ends after endpoint_complete_silence_ms, one "
        "more words could change after endpoint_extendable_silence_ms, one more words could "
        "retarget after endpoint_target_silence_ms, anything else after "
        "endpoint_incomplete_silence_ms; a text ending in a word of endpoint_words never ends "
        "early; off, or for a language without sentence data, the word lists "
        "(endpoint_words, endpoint_modifier_words) decide",
    ),
    Option(
        "endpoint_sentences_process",
        True,
        _BOOL,
        "match the running texts against the sentences in a process of their own (about 30 "
        "MB more resident memory, its own GIL); false, on a thread of the bridge, which shares "
        "the GIL with the audio of every stream (at 100 streams, the build of a language's "
        "grammar at its first command held the event loop up to 0.5 s; benchmarks, section 14)",
    ),
    Option(
        "endpoint_complete_silence_ms",
        150,
        vol.All(vol.Coerce(int), vol.Range(min=50, max=5000)),
        "milliseconds of silence that end a command Home Assistant's sentences know complete "
        "(a whole sentence of an intent, with the home's names where it names one) and that "
        'nothing in the home could extend ("what time is it"), instead of '
        "endpoint_silence_ms: such a command is over, so the bridge waits only long enough to "
        "tell a pause from the gap between two words; never less than endpoint_tail_ms, at most "
        "endpoint_silence_ms",
    ),
    Option(
        "endpoint_extendable_silence_ms",
        350,
        vol.All(vol.Coerce(int), vol.Range(min=50, max=5000)),
        "milliseconds of silence that end a command Home Assistant's sentences know complete "
        'but that more words could change (a value, a unit, another part, as in "set a timer '
        'for five minutes … and thirty seconds"); at least endpoint_complete_silence_ms, at '
        "most endpoint_target_silence_ms",
    ),
    Option(
        "endpoint_target_silence_ms",
        600,
        vol.All(vol.Coerce(int), vol.Range(min=50, max=5000)),
        "milliseconds of silence that end a command Home Assistant's sentences know complete "
        "but that more words could retarget in this home (an area for a target several "
        'entities share, a name that begins a longer one, as in "turn on the light … in the '
        'bedroom" or "turn on the desk … fan"); at most endpoint_incomplete_silence_ms',
    ),
    Option(
        "endpoint_incomplete_silence_ms",
        800,
        vol.All(vol.Coerce(int), vol.Range(min=100, max=5000)),
        'milliseconds of silence that end a command its sentences do not complete ("open …", '
        '"set a timer for five …", free-form speech for a conversation agent): at least Home '
        "Assistant's own finished-speaking silence (700), so that a pause of up to 600 ms inside "
        "a request is not cut; between endpoint_silence_ms and endpoint_max_silence_ms",
    ),
    Option(
        "hass_url",
        None,
        vol.Any(None, rule.url(("http", "https", "ws", "wss"))),
        "Home Assistant's URL (http://HOST:8123), from which the bridge reads the names of the "
        "entities exposed to Assist, the areas and the floors (with hass_token); the add-on "
        "needs neither (it asks through the Supervisor)",
    ),
    Option(
        "hass_token",
        None,
        _OPT_STR,
        "a long-lived access token of a Home Assistant user (admin), for hass_url (env or "
        "config file only)",
        flag=False,
    ),
    Option(
        "hass_token_file",
        None,
        _OPT_STR,
        "file holding the Home Assistant access token (container secrets)",
    ),
    Option(
        "hass_names_refresh",
        30.0,
        rule.seconds(5, 3600),
        "seconds between reads of Home Assistant's names (a registry change is read at once; "
        "a change of what is exposed to Assist, within this long)",
    ),
    Option(
        "endpoint_tail_ms",
        150,
        vol.All(vol.Coerce(int), vol.Range(min=0, max=2000)),
        "milliseconds of audio after the end of speech that Truebar gets before the bridge "
        "ends a command early (a recogniser commits its last word only once it has heard some "
        "audio after it; no early end comes sooner than this)",
    ),
    Option(
        "requires_external_vad",
        True,
        _BOOL,
        "tell Home Assistant (Info) that it must still run its own finished-speaking detection: "
        "its silence end and 15 s cap stay as the safety net; false leaves every end to the "
        "bridge (then Home Assistant sends satellites no VAD events and has no 15 s cap; the "
        "bridge's own cap is max_utterance_seconds)",
    ),
    Option(
        "prefers_auto_gain_enabled",
        True,
        _BOOL,
        "tell Home Assistant (Info) that it should apply automatic gain before sending audio",
    ),
    Option(
        "prefers_noise_reduction_enabled",
        True,
        _BOOL,
        "tell Home Assistant (Info) that it should apply noise reduction before sending audio "
        "(ESPHome devices with multi-channel audio send the raw microphone channel when this "
        "and prefers_auto_gain_enabled are both false)",
    ),
    Option("debug", False, _BOOL, "log at DEBUG"),
)


def env_name(name: str) -> str:
    """Return the environment variable of a setting."""
    return ENV_PREFIX + name.upper()
