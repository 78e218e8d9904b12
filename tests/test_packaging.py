"""What is built and shipped: the wheel installs and runs, the sdist is the repository.

Both are built once, offline, from a copy of the project (so setuptools' build files never
land in the source tree) with the setuptools of this environment. The wheel is installed
with pip into a fresh virtual environment whose only other packages are this environment's
dependencies (linked, without this project's own install), and its ``smsrouter`` runs the
demo there. The sdist holds every file of the repository, and its tests run from it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "--quiet"]
SKIPPED = {".venv", ".git", "__pycache__", "build", "dist", ".mypy_cache", ".pytest_cache"}
SKIPPED |= {".ruff_cache", ".hypothesis"}
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _ignored(path: Path) -> bool:
    return path.name in SKIPPED or path.name.endswith((".egg-info", ".db", ".db-wal", ".db-shm"))


def repository_files() -> set[str]:
    """The repository's files: git's list in a clone, else every file but build leftovers
    (run from an unpacked sdist)."""
    git = shutil.which("git")
    if (ROOT / ".git").exists() and git:
        # Tracked, and new files not ignored: what the next commit would hold.
        listing = [git, "-C", str(ROOT), "ls-files", "-z", "--cached", "--others"]
        listed = subprocess.run(  # noqa: S603
            [*listing, "--exclude-standard"], check=True, capture_output=True, text=True
        ).stdout
        return {name for name in listed.split("\0") if name and (ROOT / name).exists()}
    found = set()
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not _ignored(Path(d))]
        for name in files:
            if not _ignored(Path(name)) and name not in ("PKG-INFO", "setup.cfg"):
                found.add((Path(folder) / name).relative_to(ROOT).as_posix())
    return found


@attrs.frozen
class Built:
    """The copy the distributions were built from, and the distributions."""

    source: Path
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # Offline with the build backend of this environment (the test extra has it).
    pytest.importorskip("setuptools", reason="building needs setuptools, and none is installed")
    tmp = tmp_path_factory.mktemp("built")
    source = tmp / "source"
    for name in repository_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)  # a link is copied as the file it names
    wheels = tmp / "dist"
    build = [*PIP, "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(wheels), str(source)], check=True, capture_output=True)  # noqa: S603
    sdist = subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))",
            str(wheels),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=source,
    ).stdout.split()[-1]
    (wheel,) = wheels.glob("smsrouter-*.whl")
    return Built(source, wheel, wheels / sdist)


def test_the_wheel_names_its_license_and_carries_it_and_the_example_config(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        info = f"smsrouter-{VERSION}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        assert metadata["License-Expression"] == "Apache-2.0"
        assert metadata.get_all("License-File") == ["LICENSE"]
        assert archive.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        example = (ROOT / "config.example.toml").read_bytes()
        assert archive.read("router/cli/config.example.toml") == example
        assert not [n for n in archive.namelist() if n.startswith("tests/")]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text  # the full text, not a notice


def _fresh_venv(where: Path) -> Path:
    """A virtual environment that sees this one's dependencies but not this project."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)  # noqa: S603
    python = where / "bin" / "python"
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    found = subprocess.run([python, "-c", ask], check=True, capture_output=True, text=True)  # noqa: S603
    site = Path(found.stdout.strip())
    deps = where / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        ours = entry.name.startswith(("smsrouter", "__editable__", "router", "plugins", "policies"))
        if not ours and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    (site / "dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    return python


def test_the_wheel_installed_in_a_fresh_venv_runs_the_demo(built: Built, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    install = [*PIP, "--python", str(python), "install", "--no-index", str(built.wheel)]
    subprocess.run(install, check=True, capture_output=True)  # noqa: S603 - dependencies checked too
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")} | {
        "SMSROUTER_DISABLE_PLUGIN_AUTOLOAD": "1"
    }
    command = tmp_path / "venv" / "bin" / "smsrouter"

    def run(*args: str) -> str:
        done = subprocess.run(  # noqa: S603
            args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    where = run(str(python), "-c", "import router.cli.demo as d; print(d.__file__)")
    assert Path(where.strip()).is_relative_to(tmp_path / "venv")
    assert run(str(command), "--version").strip() == f"smsrouter {VERSION}"
    shown = run(str(command), "demo", "--once", "--listen", "127.0.0.1:0")
    assert "FAIL" not in shown
    assert "[ok ] metrics served" in shown


def test_the_sdist_holds_every_file_of_the_repository(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        prefix = f"smsrouter-{VERSION}/"
        names = {m.name.removeprefix(prefix) for m in archive.getmembers() if m.isfile()}
    missing = repository_files() - names
    assert not missing, f"not in the sdist: {sorted(missing)}"
    conftests = {n for n in names if n.endswith("conftest.py")}
    assert "tests/conftest.py" in conftests
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".db"))]


def test_tests_run_from_the_unpacked_sdist(built: Built, tmp_path: Path) -> None:
    with tarfile.open(built.sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"smsrouter-{VERSION}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # Files that read the README, the Makefile and the CI script, and a conftest chain.
    tests = ["tests/test_readme.py", "tests/cli/test_check_config.py"]
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "pytest", "-q", "-n0", "-p", "no:cacheprovider", *tests],
        capture_output=True,
        text=True,
        cwd=unpacked,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import router; print(router.__file__)"],
        capture_output=True,
        text=True,
        cwd=unpacked,
        env=env,
        check=True,
    ).stdout
    assert Path(where.strip()).is_relative_to(unpacked)
