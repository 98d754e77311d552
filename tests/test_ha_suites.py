"""script/ha_suites.py's guard rails: a folder with a mount in it is never removed, and the
mounts of a chroot (with what runs in it) are undone, over real bind mounts (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.test_release import script

suites = script("ha_suites")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")


@needs_root
def test_a_folder_with_a_mount_in_it_is_never_removed(tmp_path: Path) -> None:
    precious = tmp_path / "checkout"
    precious.mkdir()
    (precious / "work.txt").write_text("keep me")
    chroot = tmp_path / "state" / "root"
    (chroot / "checkout").mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(precious), str(chroot / "checkout")], check=True)
    try:
        assert suites.mounts_under(tmp_path / "state") == [chroot / "checkout"]
        with pytest.raises(SystemExit, match="refusing to remove"):
            suites.remove_tree(tmp_path / "state")
        assert (precious / "work.txt").read_text() == "keep me"
    finally:
        suites.unmount_all(tmp_path / "state")
    assert suites.mounts_under(tmp_path / "state") == []
    suites.remove_tree(tmp_path / "state")
    assert not (tmp_path / "state").exists()
    assert (precious / "work.txt").read_text() == "keep me"


@needs_root
def test_every_mount_is_undone_even_when_the_body_fails(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for sub in ("proc", "dev"):
        (root / sub).mkdir(parents=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    seen: list[int] = []

    def suite_that_fails() -> None:
        with suites.mounted(root, [shared]):
            seen.append(len(suites.mounts_under(root)))
            with pytest.raises(OSError, match="Read-only"):
                (root / shared.relative_to("/") / "x").write_text("no")
            raise RuntimeError("the suite failed")

    with pytest.raises(RuntimeError):
        suite_that_fails()
    assert seen == [4]  # shared (read-only), proc, dev, dev/shm
    assert suites.mounts_under(root) == []
