"""Pure cores: Truebar messages, transcript assembly, token freshness, languages, settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wyoming_truebar.config.errors import ProtocolError
from wyoming_truebar.config.settings import SettingsError, load_settings, merge
from wyoming_truebar.server.languages import LanguageMap, build_info
from wyoming_truebar.truebar.credentials import TokenSet
from wyoming_truebar.truebar.protocol import (
    EOS_MESSAGE,
    Stage,
    Token,
    TranscriptAssembler,
    encode_config,
    parse_message,
)


def test_config_and_eos_encoding() -> None:
    stages = [
        Stage("ASR", "KALDI:sl-SI:*:*", {"enableInterims": False}),
        Stage("NLP_pc", "NEMO_PUNCTUATOR:sl-SI:*:*", {}, "SKIP"),
    ]
    assert encode_config(stages) == (
        '{"type": "CONFIG", "pipeline": [{"task": "ASR", "exceptionHandlingPolicy": "THROW", '
        '"config": {"tag": "KALDI:sl-SI:*:*", "parameters": {"enableInterims": false}}}, '
        '{"task": "NLP_pc", "exceptionHandlingPolicy": "SKIP", "config": {"tag": '
        '"NEMO_PUNCTUATOR:sl-SI:*:*", "parameters": {}}}]}'
    )
    assert json.loads(EOS_MESSAGE) == {"type": "EOS", "lockSession": False}


@pytest.mark.parametrize(
    ("raw", "kind", "status", "text"),
    [
        ('{"type":"STATUS","status":"CONFIGURED","sessionId":1}', "STATUS", "CONFIGURED", ""),
        ('{"messageType":"STATUS","status":"FINISHED","lengthMs":5}', "STATUS", "FINISHED", ""),
        ('{"type":"ERROR","error":{"id":7,"message":"boom"}}', "ERROR", None, "boom"),
        ('{"type":"ERROR","message":"top level"}', "ERROR", None, "top level"),
        ('{"type":"WARNING","message":"careful"}', "WARNING", None, "careful"),
        ('{"type":"SOMETHING_NEW","x":1}', "SOMETHING_NEW", None, ""),
    ],
)
def test_parse_message(raw: str, kind: str, status: str | None, text: str) -> None:
    message = parse_message(raw)
    assert (message.kind, message.status, message.text) == (kind, status, text)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"type":"TEXT_SEGMENT"}',
        '{"type":"TEXT_SEGMENT","textSegment":{"tokens":5}}',
    ],
)
def test_malformed_messages_are_protocol_errors(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse_message(raw)


def segment(*tokens: tuple[str, bool, bool]) -> str:
    return json.dumps(
        {
            "type": "TEXT_SEGMENT",
            "textSegment": {
                "isFinal": True,
                "tokens": [
                    {"text": t, "isLeftHanded": left, "isRightHanded": right}
                    for t, left, right in tokens
                ],
            },
        }
    )


def test_tokens_join_by_handedness_across_segments() -> None:
    assembler = TranscriptAssembler()
    first = parse_message(
        segment(("Prižgi", False, False), ("luč", False, False), (",", True, False))
    )
    assert first.final
    assert assembler.add_final(first.tokens) == "Prižgi luč,"
    second = parse_message(
        segment(
            ("(", False, True),
            ("prosim", False, False),
            (")", True, False),
            ("", False, False),
            (".", True, False),
        )
    )
    assert assembler.add_final(second.tokens) == " (prosim)."
    assert assembler.text == "Prižgi luč, (prosim)."
    assert TranscriptAssembler().add_final([Token("", False, False)]) == ""


def test_token_set_freshness() -> None:
    body = {
        "access_token": "at.SECRET1",
        "expires_in": 900,
        "refresh_token": "rt.SECRET2",
        "refresh_expires_in": 1800,
    }
    tokens = TokenSet.from_response(body, now=100.0)
    assert tokens.usable(100 + 898) and not tokens.usable(100 + 899.5)
    assert not tokens.due(100 + 869) and tokens.due(100 + 870)
    assert tokens.can_refresh(100 + 1798) and not tokens.can_refresh(100 + 1800)
    short = TokenSet.from_response({"access_token": "a", "expires_in": 3}, now=0.0)
    assert short.due(2.85) and short.usable(2.9) and not short.can_refresh(0)
    assert "SECRET" not in repr(tokens)
    with pytest.raises(ProtocolError):
        TokenSet.from_response({"token": "x"}, now=0)


def test_language_resolution() -> None:
    langs = LanguageMap(("KALDI:sl-SI:*:*", "KALDI:en-US:*:*"), default_language="en")
    assert langs.resolve("sl").tag == "KALDI:sl-SI:*:*"  # type: ignore[union-attr]
    assert langs.resolve("EN_gb").tag == "KALDI:en-US:*:*"  # type: ignore[union-attr]
    assert langs.resolve("fr-FR") is None
    assert langs.resolve(None).tag == "KALDI:en-US:*:*"  # type: ignore[union-attr]
    assert langs.default().language == "en-US"
    assert langs.by_model_name("KALDI:sl-SI:*:*") is not None
    info = build_info(langs.tags).asr[0]
    assert [m.languages for m in info.models] == [["sl-SI", "sl"], ["en-US", "en"]]


REQUIRED = {"TRUEBAR_USERNAME": "u", "TRUEBAR_PASSWORD": "secret-pw"}


def test_settings_precedence_cli_env_file_default(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("finish_timeout: 3\nsetup_timeout: 4\nconnect_timeout: 6\n")
    env = {**REQUIRED, "TRUEBAR_FINISH_TIMEOUT": "2", "TRUEBAR_SETUP_TIMEOUT": "7"}
    s = load_settings(["--config", str(config), "--finish-timeout", "1"], env)
    assert (s.finish_timeout, s.setup_timeout, s.connect_timeout, s.token_timeout) == (
        1.0,
        7.0,
        6.0,
        10.0,
    )
    assert load_settings(["--debug"], REQUIRED).debug
    assert not load_settings(["--no-verify-tls"], REQUIRED).verify_tls


def test_settings_json_file_password_file_and_repr(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    config = tmp_path / "options.json"
    config.write_text(
        json.dumps(
            {
                "username": "u",
                "password_file": str(tmp_path / "pw"),
                "asr_tags": ["KALDI:sl-SI:*:*"],
            }
        )
    )
    s = load_settings([], {"TRUEBAR_CONFIG": str(config)})
    assert s.password == "from-file"
    assert s.tags == ("KALDI:sl-SI:*:*",)
    assert "from-file" not in repr(s)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"TRUEBAR_USERNAME": ""}, "'username'"),
        ({"TRUEBAR_PASSWORD": ""}, "'password'"),
        (
            {"TRUEBAR_FINISH_TIMEOUT": "soon"},
            "'finish_timeout' (--finish-timeout, env TRUEBAR_FINISH_TIMEOUT)",
        ),
        ({"TRUEBAR_AUTH_URL": "ftp://x"}, "'auth_url'"),
        ({"TRUEBAR_ASR_TAGS": "KALDI:sl"}, "'asr_tags'"),
        ({"TRUEBAR_MAX_SESSIONS": "0"}, "'max_sessions'"),
    ],
)
def test_bad_settings_name_the_setting(changes: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=None) as err:
        load_settings([], {**REQUIRED, **changes})
    assert message in str(err.value)
    assert "secret-pw" not in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_config_key_and_no_password_flag(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("finsh_timeout: 3\n")
    with pytest.raises(SettingsError, match="unknown setting 'finsh_timeout'"):
        load_settings(["--config", str(config)], REQUIRED)
    with pytest.raises(SystemExit):
        load_settings(["--password", "x"], REQUIRED)
    assert merge({}, REQUIRED, {}).username == "u"


def test_breaker_backs_off_doubling_to_its_cap_and_closes_on_success() -> None:
    from wyoming_truebar.config.errors import ServiceUnavailableError  # noqa: PLC0415
    from wyoming_truebar.truebar.breaker import Breaker  # noqa: PLC0415

    breaker = Breaker(first_step=0.5, max_step=5.0)
    assert not breaker.open
    assert breaker.blocked(0.0) is None
    now, steps = 100.0, []
    for _ in range(7):
        began = breaker.failed(ServiceUnavailableError("down (HTTP 503)"), now)
        assert began == (now == 100.0)  # only the first failure begins the outage
        steps.append(breaker.retry_at - now)
        blocked = breaker.blocked(now + 0.01)
        assert isinstance(blocked, ServiceUnavailableError)
        assert str(blocked) == "down (HTTP 503)"
        assert blocked is not breaker.failure  # a fresh exception for each caller
        assert breaker.blocked(breaker.retry_at) is None  # the step has passed: one may try
        now = breaker.retry_at
    assert steps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    outage = breaker.succeeded(now)
    assert outage is not None
    assert (outage.failures, round(outage.seconds, 6)) == (7, 22.5)
    assert not breaker.open
    assert breaker.blocked(now) is None
    assert breaker.succeeded(now + 1) is None  # no outage to report
    breaker.failed(ServiceUnavailableError("again"), now + 2)
    assert breaker.retry_at - (now + 2) == 0.5  # a new outage starts from the first step


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"endpoint_max_silence_ms": 600}, "endpoint_modifier_silence_ms"),
        ({"endpoint_silence_ms": 700}, "endpoint_silence_ms"),
        ({"endpoint_tail_ms": 1000}, "endpoint_tail_ms"),
    ],
)
def test_endpointing_waits_are_checked_against_each_other(
    changes: dict[str, int], named: str
) -> None:
    with pytest.raises(SettingsError, match=f"setting '{named}'.* must be shorter than"):
        merge({}, {"TRUEBAR_USERNAME": "u", "TRUEBAR_PASSWORD": "p"}, changes)
