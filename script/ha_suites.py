"""Run the Home Assistant suite against every Home Assistant release we support.

Each release has its own lock (`tests_ha/requirements/ha-<release>.txt`) and its own venv in
`.ha/` (git-ignored). Its Python is found in this order: a variable naming it
(`PYTHON_HA_2026_10`, ...); a suitable interpreter on PATH or in pyenv; `uv python install`
(where the internet is reachable); on Debian, as root, a chroot of Debian's own packages
(`debootstrap`), kept in `.ha/root-<suite>` and rebuilt only when its inputs change.

The chroot sees the checkout (and the Python of the main venv, if it lives outside the
checkout) through read-only bind mounts at their own paths, so the bridge and the simulator
run from the main venv exactly as in the host's suite, and nothing in the chroot can write to
the checkout. Every mount is undone on every exit (failure, Ctrl-C and SIGTERM included), and
left-over mounts of a killed run are undone first. A folder with anything mounted in it is
never removed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
STATE = TOP / ".ha"
"""Everything this script builds: venvs, chroots, uv's Pythons (git-ignored)."""
MAIN_BIN = TOP / ".venv" / "bin"
CHROOT_FORMAT = "1"
"""Bumped when the way a chroot is built changes (one of its inputs)."""
CHROOT_PACKAGES = ("python3.{minor}", "python3.{minor}-venv", "python3.{minor}-dev", "g++")
"""What a chroot holds besides Debian's minimal base: the Python and a compiler for the
packages of Home Assistant's that may come as source only (pymicro-vad, pyspeex-noise)."""
MIRROR = os.environ.get("HA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
UV_INSTALL_SECONDS = 120
PASSED_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass(frozen=True)
class Release:
    """A Home Assistant release the suite runs against."""

    name: str
    minimum: tuple[int, int, int]
    """The oldest Python it runs on; the same minor version is required."""
    debian: str
    """The Debian suite whose python3.<minor> satisfies `minimum`."""
    not_here: tuple[str, ...] = ()
    """Test modules for newer releases only (not collected, not type-checked)."""

    @property
    def lock(self) -> Path:
        """The release's locked requirements."""
        return TOP / "tests_ha" / "requirements" / f"ha-{self.name}.txt"

    @property
    def minor(self) -> int:
        """Python's minor version (3.<minor>)."""
        return self.minimum[1]

    @property
    def variable(self) -> str:
        """The environment variable that names its Python."""
        return "PYTHON_HA_" + self.name.replace(".", "_")


RELEASES = (
    # The oldest we support: Home Assistant 2025.4.4 (Python 3.13).
    Release(
        "2025.4",
        (3, 13, 0),
        "trixie",
        ("tests_ha/test_home_assistant_2026.py", "tests_ha/test_names_reader_2026.py"),
    ),
    # The newest that pytest-homeassistant-custom-component pins: 2026.10.4 (Python >= 3.14.2).
    Release("2026.10", (3, 14, 2), "forky"),
)


def say(text: str) -> None:
    """One line of progress on stderr."""
    print(f"script/test-ha: {text}", file=sys.stderr, flush=True)


def fail(text: str) -> None:
    """Stop with one clear line."""
    raise SystemExit(f"script/test-ha: {text}")


def digest(*parts: str | Path) -> str:
    """A stamp over files' contents and plain strings."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        h.update(b"\0")
    return h.hexdigest()


# Mounts


def mounts_under(folder: Path) -> list[Path]:
    """Mount points at or below `folder`, deepest first."""
    prefix = str(folder.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def processes_in(root: Path) -> list[int]:
    """Processes whose root directory is `root` (a chroot's, left running or not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(entry / "root")) == root:
                    found.append(int(entry.name))
    return found


def stop_processes(root: Path) -> None:
    """End what still runs in a chroot (a bridge a killed pytest left behind), so that its
    mounts are free: SIGTERM, then SIGKILL."""
    root = root.resolve()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_in(root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        for _ in range(30):
            if not processes_in(root):
                return
            time.sleep(0.1)


def unmount_all(folder: Path) -> None:
    """Undo every mount below `folder` (a killed run's too)."""
    if folder.exists():
        stop_processes(folder)
    for point in mounts_under(folder):
        subprocess.run(["umount", str(point)], check=False)
    left = mounts_under(folder)
    for point in left:  # busy: detach it now, the kernel frees it when the last user goes
        subprocess.run(["umount", "--lazy", str(point)], check=False)
    if mounts_under(folder):
        fail(f"could not unmount {', '.join(map(str, mounts_under(folder)))}")


def remove_tree(folder: Path) -> None:
    """Remove a folder we built; refused while anything is mounted in it."""
    mounted = mounts_under(folder)
    if mounted:
        fail(f"refusing to remove {folder}: {mounted[0]} is mounted in it")
    if folder.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(folder)], check=True)


@contextlib.contextmanager
def mounted(root: Path, read_only: list[Path]) -> Iterator[None]:
    """/proc, /dev and the read-only folders inside `root`, undone on every exit."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    previous_hup = signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    try:
        for folder in read_only:
            target = root / folder.relative_to("/")
            target.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "--bind", str(folder), str(target)], check=True)
            subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "shm", str(root / "dev" / "shm")], check=True)
        yield
    finally:
        unmount_all(root)
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)


# Finding a Python


def python_version(python: str, root: Path | None = None) -> tuple[int, int, int] | None:
    """The interpreter's version, or None if it does not run."""
    cmd = [python, "-c", "import sys; print(*sys.version_info[:3])"]
    try:
        out = run_in(root, cmd, capture=True)
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor, micro = (int(x) for x in out.split())
    return major, minor, micro


def suits(release: Release, version: tuple[int, int, int] | None) -> bool:
    """Whether a Python of this version runs the release."""
    return version is not None and version[:2] == release.minimum[:2] and version >= release.minimum


def on_host(release: Release) -> str | None:
    """A suitable Python on this machine: the variable, PATH, pyenv, then uv."""
    named = os.environ.get(release.variable) or (
        os.environ.get("PYTHON_HA") if release is RELEASES[0] else None
    )
    if named:
        if not suits(release, python_version(named)):
            fail(f"{release.variable}={named} is not a Python {release.minimum} or newer 3.x")
        return named
    series = f"python3.{release.minor}"
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(series), *sorted(map(str, pyenv.glob(f"3.*/bin/{series}")))]
    for candidate in candidates:
        if candidate and suits(release, python_version(candidate)):
            return candidate
    return from_uv(release)


def from_uv(release: Release) -> str | None:
    """Python from `uv python install`, kept in .ha/ (needs the internet)."""
    uv = MAIN_BIN / "uv"
    env = {**os.environ, "UV_PYTHON_INSTALL_DIR": str(STATE / "uv-python")}
    wanted = ".".join(map(str, release.minimum))
    request = f">={wanted},<3.{release.minor + 1}"
    try:
        subprocess.run(
            [str(uv), "python", "install", "--quiet", request],
            env=env,
            check=True,
            capture_output=True,
            timeout=UV_INSTALL_SECONDS,
        )
        found = subprocess.run(
            [str(uv), "python", "find", "--managed-python", request],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found if suits(release, python_version(found)) else None


# A Debian chroot


def can_chroot() -> str | None:
    """Why a Debian chroot cannot be built here, or None if it can."""
    if os.geteuid() != 0:
        return "not root"
    if not Path("/etc/debian_version").exists():
        return "not Debian"
    if shutil.which("debootstrap") is None:
        say("installing debootstrap (Debian's package) to build a chroot")
        ok = subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=False)
        if ok.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], check=False)
            ok = subprocess.run(["apt-get", "install", "-y", "-qq", "debootstrap"], check=False)
        if ok.returncode != 0:
            return "debootstrap could not be installed"
    return None


def chroot_root(release: Release) -> Path:
    """A chroot of Debian `release.debian` with its Python, built or reused."""
    root = STATE / f"root-{release.debian}"
    stamp = STATE / f"root-{release.debian}.stamp"
    packages = ",".join(p.format(minor=release.minor) for p in CHROOT_PACKAGES)
    wanted = digest(CHROOT_FORMAT, release.debian, packages, MIRROR)
    if stamp.exists() and stamp.read_text() == wanted and (root / "usr/bin").exists():
        return root
    say(f"building a Debian {release.debian} chroot with Python 3.{release.minor} in {root}")
    stamp.unlink(missing_ok=True)
    building = root.with_name(root.name + ".new")
    unmount_all(building)
    remove_tree(building)
    remove_tree(root)
    script = Path("/usr/share/debootstrap/scripts") / release.debian
    cmd = ["debootstrap", "--variant=minbase", f"--include={packages},ca-certificates"]
    cmd += [release.debian, str(building), MIRROR]
    if not script.exists():  # an older debootstrap knows testing only as sid
        cmd.append("/usr/share/debootstrap/scripts/sid")
    log = STATE / f"debootstrap-{release.debian}.log"
    with log.open("w") as out:
        if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode:
            fail(f"debootstrap of Debian {release.debian} failed; see {log}")
    building.rename(root)
    stamp.write_text(wanted)
    return root


def run_in(
    root: Path | None, cmd: list[str], env: dict[str, str] | None = None, capture: bool = False
) -> str:
    """Run a command on the host or inside a chroot, in the checkout."""

    def enter() -> None:
        if root is not None:
            os.chroot(root)
        os.chdir(TOP if TOP.is_dir() else "/")  # the checkout is not mounted yet at first

    done = subprocess.run(
        cmd, env=env, preexec_fn=enter, check=True, capture_output=capture, text=True
    )
    return done.stdout if capture else ""


def base_python() -> Path:
    """Where the main venv's interpreter lives (the chroot must see it at the same path)."""
    out = subprocess.run(
        [str(MAIN_BIN / "python"), "-c", "import sys; print(sys.base_prefix)"],
        check=True,
        capture_output=True,
        text=True,
    )
    prefix = Path(out.stdout.strip())
    usr, local = Path("/usr"), Path("/usr/local")
    if prefix == Path("/") or (prefix.is_relative_to(usr) and not prefix.is_relative_to(local)):
        fail(
            f"the main venv's Python lives in {prefix}, which a chroot cannot share; make .venv "
            "with a Python installed elsewhere (pyenv, uv), or name the Home Assistant Pythons "
            "in PYTHON_HA_2025_4 / PYTHON_HA_2026_10"
        )
    return prefix


# The suite


@dataclass
class Place:
    """Where one release's suite runs: a Python, on the host or in a chroot."""

    python: str
    root: Path | None = None

    def venv(self, release: Release) -> tuple[Path, Path]:
        """(the venv as seen by its Python, the same folder on the host)."""
        if self.root is None:
            path = STATE / f"venv-{release.name}"
            return path, path
        inside = Path("/opt") / f"venv-ha-{release.name}"
        return inside, self.root / inside.relative_to("/")


def find_place(release: Release) -> Place:
    """Where the release's suite can run, or stop saying what to install."""
    python = on_host(release)
    if python is not None:
        return Place(python)
    why = can_chroot()
    if why is not None:
        fail(
            f"Home Assistant {release.name} needs Python {'.'.join(map(str, release.minimum))}+"
            f" (3.{release.minor}) and none was found ({why} for a Debian chroot): install it, "
            f"e.g. 'uv python install 3.{release.minor}', or set {release.variable}"
        )
    root = chroot_root(release)
    python = f"/usr/bin/python3.{release.minor}"
    if not suits(release, python_version(python, root)):
        fail(f"Debian {release.debian}'s python3.{release.minor} is older than {release.minimum}")
    return Place(python, root)


def environment(place: Place, venv: Path) -> dict[str, str]:
    """The suite's environment: the host's, or a clean one inside a chroot."""
    env = {
        "WYOMING_TRUEBAR_BIN": str(MAIN_BIN),
        "PYTHONDONTWRITEBYTECODE": "1",
        "VIRTUAL_ENV": str(venv),
    }
    if place.root is None:
        return {**os.environ, **env, "MYPY_CACHE_DIR": str(STATE / "mypy-cache")}
    env.update(PATH=f"{venv}/bin:/usr/bin:/bin", HOME="/root", LANG="C.UTF-8")
    env.update(MYPY_CACHE_DIR="/tmp/mypy-cache", UV_CACHE_DIR="/var/cache/uv")
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    certs = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    if Path(certs).is_file():  # the host's trust (a proxy's CA, say) for uv's downloads
        shutil.copyfile(certs, place.root / "etc/ssl/host-ca-bundle.crt")
        env["SSL_CERT_FILE"] = "/etc/ssl/host-ca-bundle.crt"
    resolv = Path("/etc/resolv.conf")
    if resolv.is_file():
        shutil.copyfile(resolv, place.root / "etc/resolv.conf")
    return env


def ensure_venv(release: Release, place: Place, env: dict[str, str]) -> Path:
    """The release's venv, rebuilt only when its lock or Python changes."""
    inside, host = place.venv(release)
    stamp = host / ".requirements"
    wanted = digest(release.lock, place.python, str(place.root))
    if stamp.exists() and stamp.read_text() == wanted:
        return inside
    say(f"installing Home Assistant {release.name} into {host}")
    remove_tree(host)
    uv = str(MAIN_BIN / "uv")
    run_in(place.root, [uv, "venv", "--quiet", "--python", place.python, str(inside)], env)
    install = [uv, "pip", "install", "--quiet", "--python", f"{inside}/bin/python"]
    run_in(place.root, [*install, "-r", str(release.lock)], env)
    stamp.write_text(wanted)
    return inside


def run_release(
    release: Release, pytest_args: list[str], bench: Path | None = None, prepare: bool = False
) -> None:
    """Type-check and run the suite against one release (with `bench`: the pipeline
    benchmark instead, its rows written there as JSON; with `prepare`: only its Python and
    venv)."""
    place = find_place(release)
    read_only = [TOP]
    if place.root is not None:
        prefix = base_python()
        if TOP not in prefix.parents:
            read_only.append(prefix)
        unmount_all(place.root)
    with mounted(place.root, read_only) if place.root else contextlib.nullcontext():
        env = environment(place, place.venv(release)[0])
        venv = ensure_venv(release, place, env)
        if prepare:
            return
        where = f"chroot {place.root.name}" if place.root else place.python
        say(f"Home Assistant {release.name} ({where})")
        version = f"3.{release.minor}"
        mypy = [f"{venv}/bin/mypy", "--python-version", version, "--follow-imports=silent"]
        mypy += [f"--exclude={name}" for name in release.not_here]
        run_in(place.root, [*mypy, "tests_ha"], env)
        pytest = [f"{venv}/bin/python", "-m", "pytest", "-c", "tests_ha/pytest.ini"]
        pytest += ["--rootdir", ".", "-p", "no:cacheprovider", *pytest_args]
        if bench is None:
            run_in(place.root, pytest, env)
            return
        out = run_in(place.root, [*pytest, "-q", "-s", "tests_ha/bench_pipeline.py"], env, True)
        marker = "HA_BENCH "  # a row's line (after pytest's progress dots)
        rows = [json.loads(ln.split(marker, 1)[1]) for ln in out.splitlines() if marker in ln]
        bench.write_text(json.dumps({"release": release.name, "rows": rows}, indent=1) + "\n")
        say(f"wrote {len(rows)} pipeline benchmark rows to {bench}")


def lock() -> None:
    """Compile each release's requirements (.in) into its lock (.txt)."""
    for release in RELEASES:
        wanted = ".".join(map(str, release.minimum))
        source = release.lock.with_suffix(".in")
        cmd = [str(MAIN_BIN / "uv"), "pip", "compile", "--quiet", "--python-version", wanted]
        cmd += ["--python-platform", "linux", str(source.relative_to(TOP))]
        cmd += ["-o", str(release.lock.relative_to(TOP))]
        subprocess.run(cmd, check=True, cwd=TOP)


def main() -> None:
    """Run the suite against the releases asked for (all by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [r.name for r in RELEASES]
    parser.add_argument("--release", action="append", choices=names, help="default: all")
    parser.add_argument("--lock", action="store_true", help="only recompile the locks")
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="only build each release's Python (or chroot) and venv: no type check, no tests "
        "(script/test runs it in the background while the project's own suite runs)",
    )
    parser.add_argument(
        "--bench",
        type=Path,
        metavar="OUT",
        help="run the pipeline benchmark (tests_ha/bench_pipeline.py) instead of the suite, "
        "on the newest release unless --release says otherwise; its rows go to OUT (JSON)",
    )
    args, pytest_args = parser.parse_known_args()
    if args.lock:
        lock()
        return
    STATE.mkdir(exist_ok=True)
    wanted = args.release or ([RELEASES[-1].name] if args.bench else [r.name for r in RELEASES])
    for release in RELEASES:
        if release.name in wanted:
            try:
                run_release(release, pytest_args, args.bench, args.prepare)
            except subprocess.CalledProcessError as err:
                fail(f"Home Assistant {release.name}: {err.cmd[0]} exited {err.returncode}")


if __name__ == "__main__":
    main()
