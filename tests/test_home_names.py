"""The names reader against a stand-in for Home Assistant's websocket API (issue 43), on the
virtual clock (minutes of the reader's life cost milliseconds): it reads the names from the
registries and the exposed entities' states, survives a close during sign-in, malformed and
oversized answers and a restart, never retries a refused token on a timer, re-reads what
changed during a read, and follows the satellites' finished-speaking detection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.ha_standin import StandIn, serve, small_home
from tests.virtual_time import captured, on_virtual_time
from wyoming_truebar.ending.live import Sensitivity
from wyoming_truebar.home import home_names as reader_module
from wyoming_truebar.home.home_names import REFUSED_PAUSE, RETRY_FIRST, Access, HomeAssistantNames
from wyoming_truebar.home.names import HomeNames, Name

LOGGER = logging.getLogger("wyoming_truebar.home.home_names")


class Reader:
    """A names reader against a stand-in, and what it handed on."""

    def __init__(self, home: StandIn, port: int, token: str, token_file: str | None) -> None:
        self.home = home
        self.given: list[HomeNames] = []
        self.http = aiohttp.ClientSession()
        url = f"ws://127.0.0.1:{port}/api/websocket"
        where = Access(url, token, "hass_url", token_file)
        self.names = HomeAssistantNames(
            self.http, where, self.given.append, 30.0, ssl.create_default_context()
        )

    async def until(self, condition: Callable[[], bool], seconds: float = 120) -> None:
        """Wait (virtual time) until the condition holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not condition():
            assert loop.time() < deadline, "timed out"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.names.stop()
        await self.http.close()


@contextlib.asynccontextmanager
async def reading(
    home: StandIn, token_file: str | None = None, token: str | None = None
) -> AsyncIterator[Reader]:
    """A reader started against the stand-in, stopped after."""
    runner, port = await serve(home)
    reader = Reader(home, port, token or home.token, token_file)
    reader.names.start()
    try:
        yield reader
    finally:
        await reader.close()
        await runner.cleanup()


def texts(names: HomeNames | None) -> set[str]:
    return {n.text for n in (names.entities if names else ())}


@on_virtual_time
async def test_the_names_come_from_the_registries_and_the_exposed_states() -> None:
    home = small_home()
    async with reading(home) as reader:
        await reader.until(lambda: reader.names.names is not None)
        names = reader.names.names
        assert names is not None
        assert Name("Desk", "light", None, "light.desk") in names.entities
        # no state yet (its integration not loaded): its registry name, and its alias
        assert {"Front door", "main door"} <= texts(names)
        assert names.areas == ("Office", "Kitchen", "cuisine")
        assert reader.names.sensitivity is Sensitivity.DEFAULT


@on_virtual_time
async def test_a_close_during_sign_in_and_a_restart_are_survived() -> None:
    home = small_home()
    home.close_at_sign_in = 3
    async with reading(home) as reader:
        await reader.until(lambda: reader.names.reads == 1)
        assert home.sign_ins == 1  # three closed at sign-in, then one that signed in
        # Home Assistant restarts: every connection closed, back 20 s later
        home.close_at_sign_in = 1000
        await home.drop_all()
        await asyncio.sleep(20)
        home.close_at_sign_in = 0
        began = asyncio.get_running_loop().time()
        await reader.until(lambda: reader.names.reads == 2)
        assert asyncio.get_running_loop().time() - began <= reader_module.RETRY_MAX


@on_virtual_time
async def test_the_retry_pause_comes_back_down_after_a_success() -> None:
    home = small_home()
    home.close_at_sign_in = 6  # 2 + 4 + 8 + 16 + 30 + 30 s of pauses
    async with reading(home) as reader:
        await reader.until(lambda: reader.names.reads == 1)
        home.close_at_sign_in = 1
        await home.drop_all()
        began = asyncio.get_running_loop().time()
        await reader.until(lambda: reader.names.reads == 2)
        # pauses of 2, then 4 s: back to the first pause, not 30 s
        assert asyncio.get_running_loop().time() - began < 4 * RETRY_FIRST


@pytest.mark.parametrize(
    "answer",
    [
        [1, 2, 3],  # a list where a mapping belongs
        {"exposed_entities": {"no-dot": {"conversation": True}, "light.desk": "yes"}},
        {"exposed_entities": None},
    ],
)
@on_virtual_time
async def test_a_malformed_answer_is_logged_once_and_survived(answer: object) -> None:
    home = small_home()
    home.replace["homeassistant/expose_entity/list"] = answer
    with captured(LOGGER) as lines:
        async with reading(home) as reader:
            # read again after the failure, or at the refresh after the odd entries
            await reader.until(lambda: texts(reader.names.names) >= {"Desk", "Desk fan"})
    assert len(lines) <= 3, lines  # said once, not once per try


@on_virtual_time
async def test_an_entity_with_malformed_attributes_is_left_out_alone() -> None:
    home = small_home()
    home.entity("light.desk")["attributes"] = "not a mapping"
    with captured(LOGGER) as lines:
        async with reading(home) as reader:
            await reader.until(lambda: reader.names.reads >= 1)
            assert {"Desk", "Desk fan"} <= texts(reader.names.names)  # Desk: its registry name
            assert reader.names.skipped == {"state": 1}
    assert [line for line in lines if "left out malformed entries (1 state)" in line], lines


@on_virtual_time
async def test_a_big_answer_is_read_and_an_oversized_one_is_survived() -> None:
    """4.65 MB (above aiohttp's default 4 MiB) is read; above MESSAGE_BYTES (16 MiB) is a
    clear failure, then the next read works."""
    home = small_home()
    home.pad["config/area_registry/list"] = 4_650_000
    async with reading(home) as reader:
        await reader.until(lambda: reader.names.reads == 1)
    home = small_home()
    home.pad["config/area_registry/list"] = 17 * 1024 * 1024
    with captured(LOGGER) as lines:
        async with reading(home) as reader:
            await reader.until(lambda: reader.names.reads == 1)
    assert any("an answer above 16 MiB" in line for line in lines), lines


@on_virtual_time
async def test_a_refused_token_is_tried_once_in_ten_minutes_then_its_new_file(
    tmp_path: Path,
) -> None:
    """Each refused sign-in is a failed login to Home Assistant (and, past its threshold, a
    ban): over ten minutes of the reader's time, one; a new token in the file is tried within
    TOKEN_FILE_CHECK."""
    token_file = tmp_path / "token"
    token_file.write_text("a-revoked-token\n")
    home = small_home()
    home.token = "a-new-token"
    with captured(LOGGER) as lines:
        async with reading(home, str(token_file), "a-revoked-token") as reader:
            await asyncio.sleep(600)
            assert home.failed_logins == 1
            assert reader.names.refused
            token_file.write_text("a-new-token\n")
            await reader.until(lambda: reader.names.reads == 1, seconds=30)
            assert home.failed_logins == 1
            assert not reader.names.refused
    assert any(
        f"not signing in again for {REFUSED_PAUSE // 60:.0f} minutes" in line for line in lines
    )
    assert not any("a-revoked-token" in line or "a-new-token" in line for line in lines)


@on_virtual_time
async def test_a_rename_during_a_read_is_read_again() -> None:
    home = small_home()
    renamed = asyncio.Event()

    async def rename_meanwhile() -> None:
        home.entity("light.desk")["name"] = "Writing desk"
        await home.fire("entity_registry_updated", {"action": "update", "entity_id": "light.desk"})
        renamed.set()

    home.slow["config/area_registry/list"] = rename_meanwhile
    async with reading(home) as reader:
        await reader.until(lambda: "Writing desk" in texts(reader.names.names))
        assert renamed.is_set()


@on_virtual_time
async def test_the_satellites_finished_speaking_detection_is_followed() -> None:
    home = small_home()
    home.selects["select.kitchen_finished_speaking_detection"] = "relaxed"
    async with reading(home) as reader:
        await reader.until(lambda: reader.names.sensitivity is Sensitivity.RELAXED)
