"""`wyoming-truebar --check`: the set-up, step by step, each with a verdict and, if it fails,
the setting to fix. It uses the bridge's own code for every step (the credentials cache for
the token endpoint, discovery, a Truebar session), so a pass means the server will work.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import aiohttp

from ..config.errors import AuthError, BridgeError, CertificateError
from ..config.settings import Settings
from ..ending.conventions import Conventions
from ..ending.live import Sensitivity, describe_waits
from ..ending.meter import Meter
from ..home.completeness import Completeness
from ..home.ha_answers import ShapeError
from ..home.ha_link import AnswerError, LinkClosedError, RefusedError
from ..home.home_names import REFUSED_PAUSE, HomeAssistantNames, access
from ..server.languages import LanguageMap, nlp_stages, offered_tags, tag_language
from ..truebar.credentials import CredentialsCache
from ..truebar.discovery import Catalog, Discovery
from ..truebar.network import Proxy, proxy_for, redact, verified_context
from ..truebar.protocol import Stage
from ..truebar.session import TruebarSession

STREAMING_ROLES = ("PIPELINE_ONLINE_API", "STAGE_ASR")
HASS_FIX = (
    "check hass_url (TRUEBAR_HASS_URL: http://HOST:8123) and hass_token (a long-lived access "
    "token of an administrator, TRUEBAR_HASS_TOKEN or hass_token_file); the add-on needs "
    "homeassistant_api"
)
UTTERANCE = "check.wav"
"""A short English command shipped with the package ("turn on the kitchen light")."""
UTTERANCE_TEXT = "turn on the kitchen light"


@dataclass(frozen=True)
class Verdict:
    """One step's outcome: ok, failed (with the fix), or not run (an earlier step failed)."""

    number: int
    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The line printed for the step."""
        mark = {True: " ok ", False: "FAIL", None: "skip"}[self.ok]
        text = f"[{mark}] {self.number}. {self.name}: {self.detail}"
        return text + (f"\n       fix: {self.fix}" if self.fix else "")


STEPS = (
    "settings",
    "token endpoint reachable",
    "credentials accepted",
    "streaming role",
    "discovery lists streaming ASR",
    "a WebSocket session configures",
    "a short utterance is transcribed",
    "stream conventions",
    "Home Assistant's sentences and names",
)
CONVENTION_PAUSE = 25600
"""The check says its command twice, 0.8 s apart, then a second of silence, as a microphone
keeps sending: the stream then shows how Truebar's interims treat a pause, and where the
second segment's token times are measured from, if a final comes mid-stream."""


def token_roles(token: str) -> set[str] | None:
    """The realm and client roles a JWT access token carries (not verified: only read), or
    None if the token is not a JWT that tells."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict):
        return None
    roles: set[str] = set()
    for holder in [claims.get("realm_access"), *(claims.get("resource_access") or {}).values()]:
        if isinstance(holder, dict) and isinstance(holder.get("roles"), list):
            roles.update(str(r) for r in holder["roles"])
    return roles if roles or "realm_access" in claims else None


def reach_problem(err: BridgeError, what: str, setting: str) -> tuple[str, str]:
    """What went wrong reaching a Truebar URL, and the fix, from the error and its cause."""
    cause = err.__cause__
    if isinstance(err, CertificateError):
        return str(err), "set ca_file (TRUEBAR_CA_FILE, --ca-file) to the CA's PEM bundle"
    if isinstance(cause, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return (
            f"the proxy failed ({type(cause).__name__})",
            "check HTTPS_PROXY / HTTP_PROXY, and NO_PROXY for hosts to reach directly",
        )
    if isinstance(cause, aiohttp.ClientConnectorDNSError):
        return f"the host of {what} cannot be resolved", f"check {setting} and DNS"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return (
            f"cannot connect to {cause.host}:{cause.port} ({cause.strerror or 'refused'})",
            f"check {setting}, the network and any firewall or proxy",
        )
    return str(err), f"check {setting}; see the log with --debug"


class Check:
    """Runs the steps in order; a failed step skips the ones that depend on it."""

    def __init__(
        self, settings: Settings, http: aiohttp.ClientSession, report: Callable[[Verdict], None]
    ) -> None:
        self._settings = settings
        self._http = http
        self._report = report
        self._credentials = CredentialsCache(http, settings)
        self.verdicts: list[Verdict] = []
        self.learned = Conventions()
        """What the check's utterance showed of Truebar's stream conventions."""

    def _verdict(self, ok: bool | None, detail: str, fix: str = "") -> bool:
        number = len(self.verdicts) + 1
        verdict = Verdict(number, STEPS[number - 1], ok, detail, fix)
        self.verdicts.append(verdict)
        self._report(verdict)
        return ok is True

    def _skip_rest(self) -> bool:
        while len(self.verdicts) < len(STEPS):
            self._verdict(None, "not run: an earlier step failed")
        return False

    async def run(self) -> bool:
        """Every step; True if all pass."""
        self._settings_step()
        token = await self._token_steps()
        if token is None or not self._role_step(token):
            return self._skip_rest()
        catalog = await self._discovery_step()
        if catalog is None:
            return self._skip_rest()
        languages = LanguageMap(offered_tags(self._settings, catalog), None)
        choice = languages.resolve("en") or languages.default()
        stages = [Stage("ASR", choice.tag, {"enableInterims": False})]
        if not await self._session_step(stages):
            return self._skip_rest()
        # As the bridge streams an endpointed command: interims on, the settings' NLP stages.
        asr = Stage("ASR", choice.tag, {"enableInterims": True})
        spoken = [asr, *nlp_stages(self._settings, catalog, choice.language)]
        if not await self._utterance_step(spoken):
            return self._skip_rest()
        self._conventions_step()
        return await self._sentences_step(languages.tags)

    def _settings_step(self) -> None:
        s = self._settings
        proxy: Proxy | None = proxy_for(s.stt_ws_url)
        trust = "off (verify_tls: false)" if not s.verify_tls else "system CAs"
        if s.verify_tls and s.ca_file:
            trust += f" + {s.ca_file}"
        self._verdict(
            True,
            f"user {s.username!r}, token endpoint {redact(s.auth_url)}, stream "
            f"{redact(s.stt_ws_url)}, TLS trust {trust}, proxy "
            f"{redact(proxy.url) if proxy else 'none'}",
        )

    async def _token_steps(self) -> str | None:
        started = time.perf_counter()
        try:
            token = await self._credentials.access_token()
        except AuthError as err:
            self._verdict(True, "it answered")
            self._verdict(
                False,
                f"{err} for user {self._settings.username!r}",
                "check username (TRUEBAR_USERNAME) and the password (TRUEBAR_PASSWORD or "
                "password_file; Keycloak does not say which of the two is wrong), and "
                "client_id if it says unauthorized_client",
            )
            return None
        except BridgeError as err:
            problem, fix = reach_problem(err, "the token endpoint", "auth_url (TRUEBAR_AUTH_URL)")
            self._verdict(False, problem, fix)
            return None
        ms = (time.perf_counter() - started) * 1000
        self._verdict(True, f"answered in {ms:.0f} ms")
        self._verdict(True, f"user {self._settings.username!r} signed in")
        return token

    def _role_step(self, token: str) -> bool:
        roles = token_roles(token)
        if roles is None:
            return self._verdict(True, "the token does not list roles; step 6 will tell")
        missing = [r for r in STREAMING_ROLES if r not in roles]
        if missing:
            return self._verdict(
                False,
                f"the user lacks {', '.join(missing)} (has: {', '.join(sorted(roles)) or 'none'})",
                "ask your Truebar administrator to grant PIPELINE_ONLINE_API and STAGE_ASR",
            )
        return self._verdict(True, f"{', '.join(STREAMING_ROLES)} present")

    async def _discovery_step(self) -> Catalog | None:
        discovery = Discovery(self._http, self._credentials, self._settings, lambda _: None)
        try:
            catalog = await discovery.fetch()
        except BridgeError as err:
            problem, fix = reach_problem(err, "the API", "api_base_url (TRUEBAR_API_BASE_URL)")
            self._verdict(False, problem, fix)
            return None
        found = {tag.split(":")[1] for tag in catalog.asr}
        offered = offered_tags(self._settings, catalog)
        missing = [t for t in offered if t not in catalog.asr and t.split(":")[1] not in found]
        if missing:
            self._verdict(
                False,
                f"no streaming ASR for {', '.join(missing)} (discovered: "
                f"{', '.join(sorted(found))})",
                "set asr_tag / asr_tag_overrides to a discovered tag, or leave them unset",
            )
            return None
        self._verdict(True, f"streaming ASR for {', '.join(sorted(found))}")
        return catalog

    def _session(self, stages: list[Stage]) -> TruebarSession:
        return TruebarSession(
            self._http,
            self._credentials,
            self._settings,
            stages,
            "check",
            events=Meter(self.learned),
            proxy=proxy_for(self._settings.stt_ws_url),
        )

    async def _session_step(self, stages: list[Stage]) -> bool:
        session = self._session(stages)
        session.end_audio()  # no audio: CONFIG, CONFIGURED, EOS, FINISHED
        try:
            await session.finish()
        except BridgeError as err:
            problem, fix = reach_problem(err, "Truebar", "stt_ws_url (TRUEBAR_STT_WS_URL)")
            if isinstance(err, AuthError):
                fix = "ask your Truebar administrator to grant PIPELINE_ONLINE_API"
            elif err.code == "service_error":
                fix = "the account may lack a stage's role (STAGE_ASR); see the error text"
            return self._verdict(False, f"{err.code}: {problem}", fix)
        finally:
            await session.close()
        configured = (session.configured_after or 0) * 1000
        return self._verdict(True, f"configured in {configured:.0f} ms ({stages[0].tag})")

    async def _utterance_step(self, stages: list[Stage]) -> bool:
        with (
            resources.files("wyoming_truebar").joinpath(UTTERANCE).open("rb") as raw,
            wave.open(raw) as wav,
        ):
            command = wav.readframes(wav.getnframes())
        pcm = command + bytes(CONVENTION_PAUSE) + command + bytes(32000)
        session = self._session(stages)
        session.start()
        try:
            for offset in range(0, len(pcm), 3200):  # in real time, as a user speaks
                session.send(pcm[offset : offset + 3200])
                await asyncio.sleep(0.1)
            stopped = time.perf_counter()
            text = await session.finish()
        except BridgeError as err:
            return self._verdict(False, f"{err.code}: {err}", "see the log with --debug")
        finally:
            await session.close()
        ms = (time.perf_counter() - stopped) * 1000
        plain = " ".join(text.lower().replace(".", " ").replace(",", " ").split())
        said = f"{UTTERANCE_TEXT} {UTTERANCE_TEXT}"
        heard = "as said" if plain == said else f"said {said!r}"
        return self._verdict(True, f"{text!r} ({heard}), {ms:.0f} ms after the audio ended")

    def _conventions_step(self) -> bool:
        """What the utterance showed of the conventions, in words (never a failure: the
        bridge adapts, or falls back to Truebar's final and the long silence)."""
        lines = self.learned.describe(self._settings.endpoint_silence_ms)
        return self._verdict(True, "; ".join(lines))

    async def _sentences_step(self, tags: tuple[str, ...]) -> bool:
        """The sentence data the endpointer uses, and the home's names: read once from Home
        Assistant where the bridge has access (a failure there is this step's)."""
        s = self._settings
        judge = Completeness(s.endpoint_sentences, process=s.endpoint_sentences_process)
        sentences = judge.describe(map(tag_language, tags))
        where = access(s, os.environ)
        if where is None:
            return self._verdict(
                True,
                f"{sentences}; names: none (no hass_url): names are wildcards, so any name could "
                "be the start of a longer one: a command that ends in a name waits "
                f"endpoint_target_silence_ms; {describe_waits(s, Sensitivity.DEFAULT)}",
            )
        tls = verified_context(s)
        reader = HomeAssistantNames(self._http, where, lambda _: None, s.hass_names_refresh, tls)
        trust = _trust(where.url, s)
        try:
            names = await reader.read_once()
        except RefusedError:
            return self._verdict(
                False,
                f"{sentences}; names: Home Assistant at {redact(where.url)} refused the access "
                f"token ({trust}); the bridge would not sign in again for "
                f"{REFUSED_PAUSE / 60:.0f} minutes (each refused sign-in is a failed login to "
                "Home Assistant, and can ban this address)",
                HASS_FIX,
            )
        except (AnswerError, LinkClosedError, ShapeError) as err:
            return self._verdict(False, f"{sentences}; names: {err} ({trust})", HASS_FIX)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
            return self._verdict(
                False,
                f"{sentences}; names: Home Assistant at {redact(where.url)} did not answer "
                f"({type(err).__name__}; {trust})",
                HASS_FIX,
            )
        found = reader.sensitivity or Sensitivity.DEFAULT
        return self._verdict(
            True,
            f"{sentences}; names from {where.source} ({redact(where.url)}, {trust}): "
            f"{len({n.entity_id for n in names.entities})} entities exposed to Assist "
            f"({len({n.text for n in names.entities})} names with aliases), "
            f"{len(names.areas)} areas, {len(names.floors)} floors; the satellites' finished "
            f"speaking detection: {_satellites(reader.sensitivity)}, so "
            f"{describe_waits(s, found)}",
        )


def _trust(url: str, settings: Settings) -> str:
    """How the connection to Home Assistant is trusted, in words."""
    if not url.startswith("wss:"):
        return "plain ws://, no TLS"
    extra = f" plus {settings.ca_file}" if settings.ca_file else ""
    return f"TLS verified against the system's CAs{extra}, whatever verify_tls says"


def _satellites(found: Sensitivity | None) -> str:
    if found is None:
        return "none found (the default)"
    return f"{found.value} (the most patient of the home's satellites)"


async def run_check(
    settings: Settings, http: aiohttp.ClientSession, report: Callable[[Verdict], None]
) -> bool:
    """Run the set-up check; True if every step passes."""
    return await Check(settings, http, report).run()
