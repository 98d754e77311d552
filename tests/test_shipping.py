"""Add-on manifest and options, Supervisor discovery (fake endpoint), zeroconf service info."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.conftest import Sim, start_bridge
from wyoming_truebar.app.announce import (
    advertised_address,
    build_service_info,
    register_with_supervisor,
)
from wyoming_truebar.config.settings import OPTIONS, load_settings

ROOT = Path(__file__).parent.parent
ADDON = ROOT / "config" / "addon"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ADDON / "config.yaml").read_text())
    return data


def test_addon_manifest() -> None:
    m = manifest()
    for key in ("name", "version", "slug", "description", "arch", "startup", "options", "schema"):
        assert key in m, key
    assert {"amd64", "aarch64"} <= set(m["arch"])
    assert m["discovery"] == ["wyoming"]
    assert m["schema"]["password"] == "password"
    assert m["init"] is False  # the server is PID 1 and handles SIGTERM itself
    settings = {o.name for o in OPTIONS}
    assert set(m["schema"]) <= settings  # options.json goes straight to --config
    assert set(m["options"]) <= set(m["schema"])
    assert "10300/tcp" in m["ports"]
    assert "--config" in (ADDON / "Dockerfile").read_text()
    assert m["image"].endswith("/{arch}-addon-wyoming-truebar")  # prebuilt, per architecture


def test_supervisor_finds_exactly_one_addon() -> None:
    # The Supervisor takes every config.* outside dot-folders and rootfs for an add-on manifest.
    found = [
        p
        for p in ROOT.glob("**/config.*")
        if not any(
            part.startswith(".") or part in ("rootfs", "build")
            for part in p.relative_to(ROOT).parts
        )
        and p.suffix in (".json", ".yaml", ".yml")
    ]
    assert found == [ADDON / "config.yaml"]
    assert yaml.safe_load((ROOT / "repository.yaml").read_text())["name"]


def test_options_json_as_the_supervisor_writes_it(tmp_path: Path) -> None:
    options = {
        **manifest()["options"],
        "username": "alice",
        "password": "s3cret",
        "asr_tag_overrides": ["sl=KALDI:sl-SI:COL:20221208-0800"],
        "nlp_tasks": ["sl:NLP_pc"],
        "finish_timeout": 2.5,
        "http_port": 8099,
        "allowed_networks": "192.168.0.0/16",
        "max_sessions": 20,
    }
    path = tmp_path / "options.json"
    path.write_text(json.dumps(options))
    s = load_settings(["--config", str(path)], {})
    assert (s.username, s.password, s.finish_timeout, s.http_port) == ("alice", "s3cret", 2.5, 8099)
    assert s.asr_tag_overrides == (("sl", "KALDI:sl-SI:COL:20221208-0800"),)
    assert s.nlp_tasks == ("sl:NLP_pc",)
    assert s.allowed_networks == (ipaddress.ip_network("192.168.0.0/16"),)
    # As first installed (empty options), start-up stops with one clear line.
    path.write_text(json.dumps(manifest()["options"]))
    with pytest.raises(Exception, match="'username'"):
        load_settings(["--config", str(path)], {})


async def test_registers_with_supervisor_once_describe_answers(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[tuple[str, Any]] = []

    async def discovery(request: web.Request) -> web.Response:
        received.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({"result": "ok", "data": {"uuid": "x"}})

    app = web.Application()
    app.router.add_post("/discovery", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake = f"http://127.0.0.1:{runner.addresses[0][1]}"
    running = await start_bridge(sim, supervisor_url=fake)
    try:
        async with aiohttp.ClientSession() as http:
            assert not await register_with_supervisor(
                http, running.ctx.settings, running.server.address
            )
            assert received == []  # not an add-on: no SUPERVISOR_TOKEN, no call
            monkeypatch.setenv("SUPERVISOR_TOKEN", "sup-token")
            assert await register_with_supervisor(
                http, running.ctx.settings, running.server.address
            )
    finally:
        await running.close()
        await runner.cleanup()
    assert received == [
        (
            "Bearer sup-token",
            {
                "service": "wyoming",
                "config": {"uri": f"tcp://{socket.gethostname()}:{running.port}"},
            },
        )
    ]


def test_zeroconf_service_info() -> None:
    info = build_service_info("kitchen", "192.168.1.20", 10300)
    assert info.type == "_wyoming._tcp.local."
    assert info.name == "kitchen._wyoming._tcp.local."
    assert info.parsed_addresses() == ["192.168.1.20"]
    assert info.port == 10300


def test_zeroconf_never_advertises_a_wildcard() -> None:
    assert advertised_address("0.0.0.0", "10.0.0.7") == "10.0.0.7"  # override (NAT)
    assert advertised_address("192.168.1.20", None) == "192.168.1.20"
    found = advertised_address("0.0.0.0", None)
    assert found not in ("0.0.0.0", "")
    assert not ipaddress.ip_address(found).is_unspecified


def test_zeroconf_flag_forms() -> None:
    env = {"TRUEBAR_USERNAME": "u", "TRUEBAR_PASSWORD": "p"}
    assert load_settings([], env).zeroconf is None
    assert load_settings(["--zeroconf"], env).zeroconf == "truebar"
    assert load_settings(["--zeroconf", "kitchen", "--zeroconf-port", "1"], env).zeroconf == (
        "kitchen"
    )


def test_example_config_lists_every_setting_and_loads(tmp_path: Path) -> None:
    from wyoming_truebar.config.settings import example_config  # noqa: PLC0415

    committed = (ROOT / "config" / "wyoming-truebar.example.yaml").read_text()
    assert committed == example_config(), "regenerate from settings.example_config()"
    # Uncommented, every default is a valid setting.
    values: dict[str, Any] = {}
    for line in committed.splitlines():
        if line.startswith("# ") and not line.startswith("# wyoming") and ": " in line:
            candidate = yaml.safe_load(line[2:])
            if isinstance(candidate, dict) and len(candidate) == 1:
                key = next(iter(candidate))
                if key in {o.name for o in OPTIONS}:
                    values.update(candidate)
    assert set(values) == {o.name for o in OPTIONS}
    values.update(username="u", password="p")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(values))
    assert load_settings(["--config", str(path)], {}).username == "u"


def test_deployment_examples_parse() -> None:
    compose = yaml.safe_load((ROOT / "config" / "docker-compose.yaml").read_text())
    assert "wyoming-truebar" in compose["services"]
    docs = list(yaml.safe_load_all((ROOT / "config" / "kubernetes.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    unit = (ROOT / "config" / "wyoming-truebar.service").read_text()
    assert "ExecStart=" in unit
    assert "PASSWORD=" not in unit.replace("PASSWORD_FILE=", "")
