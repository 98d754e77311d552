"""Ready to release: one version everywhere, an add-on the official linter accepts, a package
that builds, passes twine and installs, and wheels for arm64 of every runtime dependency."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.procs import command

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "config" / "addon"
BIN = Path(sys.executable).parent


def script(name: str) -> ModuleType:
    """A module of script/ (they are commands, not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "script" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_one_version_everywhere() -> None:
    import wyoming_truebar  # noqa: PLC0415

    manifest = yaml.safe_load((ADDON / "config.yaml").read_text())
    shown = subprocess.run(
        [command("wyoming-truebar"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert str(manifest["version"]) == version() == wyoming_truebar.__version__ == shown
    # A tag of that version would release consistently; any other tag is refused.
    release = script("release")
    assert release.problems(f"v{version()}") == []
    assert release.problems("v99.0.0") == [f"tag v99.0.0 != v{version()} (pyproject.toml)"]
    assert release.notes(version())  # the changelog has the version's section


def test_addon_passes_the_linter_and_the_linter_catches_defaults(tmp_path: Path) -> None:
    lint = [sys.executable, str(ROOT / "script" / "lint_addon.py")]
    done = subprocess.run([*lint, str(ADDON)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    # The finding, reproduced: a default value in the manifest is refused.
    for name in ("config.yaml", "build.yaml"):
        shutil.copy(ADDON / name, tmp_path / name)
    with (tmp_path / "config.yaml").open("a") as manifest:
        manifest.write("boot: auto\n")
    done = subprocess.run([*lint, str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "'boot' should be removed, it uses a default value" in done.stdout


@pytest.mark.parametrize("language", ["en", "sl"])
def test_translations_name_and_describe_every_option(language: str) -> None:
    """English and Slovenian (most Truebar users speak it) name and describe every option of
    the add-on, and the same keys (options and network ports) as each other."""
    schema = yaml.safe_load((ADDON / "config.yaml").read_text())["schema"]
    english = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text(encoding="utf-8"))
    found = yaml.safe_load(
        (ADDON / "translations" / f"{language}.yaml").read_text(encoding="utf-8")
    )
    texts = found["configuration"]
    assert set(texts) == set(schema)
    assert set(found) == set(english)
    assert set(found["network"]) == set(english["network"])
    for option, text in texts.items():
        assert set(text) == set(english["configuration"][option]), option
        assert text["name"].strip(), option
        assert len(text["description"].strip()) > 20, option


def test_icon_and_logo_are_the_drawn_ones(tmp_path: Path) -> None:
    drawn = [sys.executable, str(ROOT / "script" / "draw_addon_images.py"), str(tmp_path)]
    subprocess.run(drawn, check=True, timeout=120)
    for name, size in (("icon.png", (128, 128)), ("logo.png", (250, 100))):
        data = (ADDON / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == size
        assert (tmp_path / name).read_bytes() == data, f"regenerate {name}"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_build_twine_check_and_install_into_a_clean_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    built = sorted(p.name for p in dist.iterdir())
    assert built == [
        f"wyoming_truebar-{version()}-py3-none-any.whl",
        f"wyoming_truebar-{version()}.tar.gz",
    ]
    twine = subprocess.run(
        [str(BIN / "twine"), "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert twine.returncode == 0, twine.stdout + twine.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(dist.glob("*.whl"))
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "-c",
            str(ROOT / "requirements.lock"),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    shown = subprocess.run(
        [str(venv / "bin" / "wyoming-truebar"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == version()
    # The set-up check's utterance is in the wheel, not only in the simulator's fixtures.
    check_wav = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.resources as r; "
            "print(r.files('wyoming_truebar').joinpath('check.wav').stat().st_size)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(check_wav.stdout) > 10_000


def lock() -> dict[str, str]:
    """The runtime lock: name -> the line pinning it (first one per name)."""
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            pins.setdefault(re.split(r"[=<>; ]", line, maxsplit=1)[0].lower(), line)
    return pins


def test_lock_covers_every_runtime_dependency() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[=<>!~ \[]", d, maxsplit=1)[0].lower().replace("_", "-") for d in declared}
    assert names <= set(lock())


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_runtime_dependency_has_an_arm64_wheel(tmp_path: Path) -> None:
    # The image is python:3.11-slim-bookworm (glibc 2.36): pip there takes manylinux wheels up
    # to 2_36. Source distributions are not allowed: a Raspberry Pi must not compile anything.
    platforms = [f"--platform=manylinux_{v}_aarch64" for v in ("2_36", "2_28")]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--platform=manylinux2014_aarch64",
            *platforms,
            "--python-version=3.11",
            "--implementation=cp",
            "--abi=cp311",
            "-r",
            str(ROOT / "requirements.lock"),
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in tmp_path.glob("*.whl")}
    assert {name.replace("_", "-") for name in lock()} <= wheels
    for wheel in tmp_path.glob("*.whl"):
        assert wheel.name.endswith(("-none-any.whl", "aarch64.whl")), wheel.name
