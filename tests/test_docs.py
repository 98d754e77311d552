"""The documentation stays true: the generated settings table is current, every relative link
and #anchor resolves, the README stays a front page, and the add-on's page names real options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from wyoming_truebar.config.settings import markdown_table, with_table

ROOT = Path(__file__).parent.parent
REPO_URL = "https://github.com/wyoming-truebar/wyoming-truebar/blob/main/"
"""Links of the add-on's DOCS.md (shown inside Home Assistant, where relative links cannot
work) point here; they are checked as the paths they name in this checkout."""
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "RELEASING.md",
        ROOT / "config" / "addon" / "DOCS.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "benchmarks").glob("*.md"),
    ]
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


def test_the_pages_exist() -> None:
    names = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {
        "configuration.md",
        "home-assistant.md",
        "troubleshooting.md",
        "reliability.md",
        "architecture.md",
        "simulator.md",
        "development.md",
    } <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for link in links(page):
        target = link
        if link.startswith(REPO_URL):
            target = str(ROOT / link.removeprefix(REPO_URL))
        elif re.match(r"[a-z]+:", link):
            continue  # another site: not checked (no internet here)
        path, _, anchor = target.partition("#")
        resolved = Path(path) if Path(path).is_absolute() else page.parent / path
        if not path:
            resolved = page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, broken


def test_the_configuration_page_is_generated_and_current() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_table() in text
    assert with_table(text) == text, "run bash script/update-docs"


def test_the_readme_is_a_front_page_with_the_two_commands_first() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    first_block = FENCE.search(text)
    assert first_block is not None
    assert first_block.group(0).splitlines()[1:-1] == ["bash script/demo", "bash script/test"]
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in text, f"the README's map of docs/ lacks {page.name}"


def test_every_docs_page_starts_with_its_answer() -> None:
    for page in (ROOT / "docs").glob("*.md"):
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[1] == "", page.name
        assert lines[2] and not lines[2].startswith(("#", "|", "```", "-")), page.name


def test_the_addon_page_names_only_real_options() -> None:
    folder = ROOT / "config" / "addon" / "translations"
    translations = yaml.safe_load((folder / "en.yaml").read_text())
    slovenian = yaml.safe_load((folder / "sl.yaml").read_text(encoding="utf-8"))
    labels = {entry["name"] for entry in translations["configuration"].values()}
    labels |= {entry["name"] for entry in slovenian["configuration"].values()}  # its sl part
    options = yaml.safe_load((ROOT / "config" / "addon" / "config.yaml").read_text())["options"]
    text = (ROOT / "config" / "addon" / "DOCS.md").read_text()
    words = {"speech-to-text failed", "v", "na", "za", "in", "dnevni", "spalni", "vhodna", "ali"}
    quoted = set(re.findall(r'"([^"]+)"', text)) - words
    assert quoted, "DOCS.md names options by their labels"
    assert {q for q in quoted if not any(label.startswith(q) for label in labels)} == set()
    named = set(re.findall(r"\(`([a-z_]+)`\)", text))
    assert named and named <= set(options) | set(translations["configuration"])
