"""What a release is made of, read from the repository (the release workflow and the tests
use it, so the tag, the package, the add-on and its images can never disagree).

    python script/release.py check v0.2.0   # exit 1 unless tag, pyproject and add-on agree;
                                            # print version=, image=, addon_image= for GitHub
    python script/release.py notes 0.2.0    # the CHANGELOG section of a version
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "config" / "addon"


def package_version() -> str:
    """The version in pyproject.toml (the one source of the package's version)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def addon() -> dict[str, object]:
    """The add-on manifest."""
    data = yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def problems(tag: str | None) -> list[str]:
    """Why a release of this tree under `tag` would be inconsistent (empty if it would not)."""
    version, manifest = package_version(), addon()
    found = []
    if str(manifest["version"]) != version:
        found.append(f"add-on version {manifest['version']} != package version {version}")
    if tag is not None and tag != f"v{version}":
        found.append(f"tag {tag} != v{version} (pyproject.toml)")
    if notes(version) is None:
        found.append(f"config/addon/CHANGELOG.md has no section '## {version}'")
    image = str(manifest.get("image", ""))
    if not image.startswith("ghcr.io/") or "{arch}" not in image:
        found.append("the add-on's image must be ghcr.io/OWNER/{arch}-NAME")
    return found


def container_image() -> str:
    """The multi-arch container image (beside the add-on's per-architecture images)."""
    image = str(addon()["image"])
    return image.rsplit("/", 1)[0] + "/wyoming-truebar"


def notes(version: str) -> str | None:
    """The changelog section of `version`, without its heading."""
    text = (ADDON / "CHANGELOG.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(version)}\b.*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1).strip() if match else None


def main() -> None:
    """Entry point."""
    command, argument = sys.argv[1], sys.argv[2]
    if command == "notes":
        section = notes(argument)
        if section is None:
            sys.exit(f"no changelog section for {argument}")
        print(section)
        return
    found = problems(argument)
    for problem in found:
        print(f"::error ::{problem}", file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"version={package_version()}")
    print(f"image={container_image()}")
    print(f"addon_image={addon()['image']}")


if __name__ == "__main__":
    main()
