"""The package's layout shows its architecture (issue 38): subpackages that follow the data,
each importing only those below it in the flow; no import cycle in the bridge or the
simulator; and short functions where the command's end is decided."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent
FLOW = ("app", "server", "home", "ending", "truebar", "config")
"""The bridge's subpackages, from the program down to its foundation: each may import only
those after it (and itself)."""
ENDPOINTING_PATH = (
    "ending/*.py",
    "home/*.py",
    "truebar/session.py",
    "server/handler.py",
    "server/utterance.py",
)
"""Where the end of a command is decided, and the path of the audio and the text to it: no
function longer than MAX_LINES."""
MAX_LINES = 40


def modules(package: str) -> dict[str, Path]:
    """Every module of a package by dotted name."""
    root = TOP / package
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(TOP).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules a module imports (anywhere in it, inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (target for target in targets if target in known and target != name)


def graph(package: str) -> dict[str, set[str]]:
    known = modules(package)
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (a depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


@pytest.mark.parametrize("package", ["wyoming_truebar", "truebar_sim"])
def test_no_import_cycle(package: str) -> None:
    edges = graph(package)
    # a package's __init__ is imported with any of its modules: it must not close a loop
    assert cycle(edges) is None, " → ".join(cycle(edges) or [])


def layer(module: str) -> int | None:
    """The module's place in FLOW (None: the package's top, above every subpackage)."""
    parts = module.split(".")
    return FLOW.index(parts[1]) if len(parts) > 1 and parts[1] in FLOW else None


def test_no_subpackage_imports_one_above_it() -> None:
    upward = [
        f"{module} → {target}"
        for module, targets in graph("wyoming_truebar").items()
        for target in targets
        if (here := layer(module)) is not None
        and ((there := layer(target)) is None or there < here)
        and target != "wyoming_truebar"
    ]
    assert not upward, upward


def test_every_module_lives_in_a_subpackage_that_says_what_it_owns() -> None:
    root = TOP / "wyoming_truebar"
    loose = sorted(p.name for p in root.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"], loose
    assert sorted(p.name for p in root.iterdir() if (p / "__init__.py").is_file()) == sorted(FLOW)
    for package in FLOW:
        doc = ast.get_docstring(ast.parse((root / package / "__init__.py").read_text()))
        assert doc and "import" in doc, package  # what it owns, and what it may import


def test_no_long_function_on_the_endpointing_path() -> None:
    long = [
        f"{path.relative_to(TOP)}:{node.lineno} {node.name} ({length} lines)"
        for pattern in ENDPOINTING_PATH
        for path in sorted((TOP / "wyoming_truebar").glob(pattern))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_LINES
    ]
    assert not long, long
