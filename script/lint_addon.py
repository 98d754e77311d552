"""Lint a Home Assistant add-on folder as the official add-on linter does (locally, offline).

The checks of frenck/action-addon-linter: config.yaml and build.yaml against its JSON schemas
(script/addon-linter/, Draft 7), every property that only repeats the schema's default, and its
rules on ingress, full_access, deprecated keys and cold backups. Exit 0 if clean.

    python script/lint_addon.py config/addon
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

SCHEMAS = Path(__file__).resolve().parent / "addon-linter"


def _load(folder: Path, name: str) -> tuple[Path, dict[str, Any]] | None:
    for suffix in ("json", "yaml", "yml"):
        path = folder / f"{name}.{suffix}"
        if path.exists():
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if suffix == "json" else yaml.safe_load(text)
            return path, data if isinstance(data, dict) else {}
    return None


def schema_problems(data: dict[str, Any], schema_name: str) -> Iterator[str]:
    """Schema violations, then properties whose value is the schema's default."""
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    for error in sorted(Draft7Validator(schema).iter_errors(data), key=str):
        yield error.message
    for key, spec in schema.get("properties", {}).items():
        if "default" in spec and key in data and data[key] == spec["default"]:
            yield f"'{key}' should be removed, it uses a default value"


def rule_problems(config: dict[str, Any]) -> Iterator[str]:
    """The linter's rules beyond the schema."""
    if config.get("ingress") and config.get("webui"):
        yield "'webui' should be removed, Ingress is enabled."
    if config.get("full_access") and any(k in config for k in ("devices", "gpio", "uart", "usb")):
        yield "'full_access', don't add 'devices', 'uart', 'usb' or 'gpio' this is not needed"
    if "auto_uart" in config:
        yield "'auto_uart' is deprecated, use 'uart' instead."
    if any(":" in str(device) for device in config.get("devices", [])):
        yield "'devices' uses a deprecated format, the new format uses a list of paths only."
    if not isinstance(config.get("tmpfs", False), bool):
        yield "'tmpfs' use a deprecated format, it is a boolean now."
    if config.get("backup", "hot") == "cold":
        yield from (
            f"'{o}' is not valid when using cold backups."
            for o in ("backup_pre", "backup_post")
            if o in config
        )
    if config.get("watchdog"):
        yield "'watchdog', is obsolete. Use the native Docker HEALTHCHECK directive instead."


def lint(folder: Path) -> list[str]:
    """Every problem of the add-on in `folder`, as 'file: message'."""
    found = _load(folder, "config")
    if found is None:
        return [f"{folder}: no config.yaml, config.yml or config.json"]
    path, config = found
    problems = [f"{path}: {p}" for p in schema_problems(config, "addon-config.schema.json")]
    problems += [f"{path}: {p}" for p in rule_problems(config)]
    build = _load(folder, "build")
    if build is not None:
        problems += [
            f"{build[0]}: {p}" for p in schema_problems(build[1], "addon-build.schema.json")
        ]
    return problems


def main() -> None:
    """Entry point."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "config/addon")
    problems = lint(folder)
    for problem in problems:
        print(problem)
    print(f"add-on linter: {folder}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
