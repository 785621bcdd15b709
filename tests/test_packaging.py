"""A wheel carries every handler and schema file, so a wheel, an editable install and a checkout
build the same images (tags hash file contents and modes)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tracked(folder: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True)
    return {line.removeprefix(folder + "/") for line in listed.stdout.splitlines()}


def test_wheel_ships_every_handler_and_schema_file_with_its_mode(tmp_path):
    subprocess.run(
        # Without build isolation: the venv's setuptools and wheel (the `test` extra) build it, offline.
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = zipfile.ZipFile(next(tmp_path.glob("phronosd-*.whl")))
    shipped = {info.filename: info for info in wheel.infolist() if "__pycache__" not in info.filename}
    for folder in ("handlers", "schemas"):
        prefix = f"phronosd/{folder}/"
        in_wheel = {name.removeprefix(prefix) for name in shipped if name.startswith(prefix)}
        assert in_wheel == tracked(folder)
    for name, info in shipped.items():
        if name.startswith("phronosd/handlers/"):
            source = ROOT / "handlers" / name.removeprefix("phronosd/handlers/")
            assert bool(info.external_attr >> 16 & 0o111) == bool(source.stat().st_mode & 0o111), name
