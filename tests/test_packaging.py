"""The built wheel carries what an installed package needs: the demo's example config.

``router/cli/config.example.toml`` is a symlink to the top-level file, which the build
follows; the wheel is built offline from a copy of the project and installed into a folder
of its own, and a fresh interpreter reads the example config from there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
PACKAGED = "router/cli/config.example.toml"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "--quiet"]

# Run by a fresh interpreter with only the installed folder before its site-packages.
LOAD = """
import sys, tomllib
from router.cli import demo
with open(sys.argv[1], "rb") as handle:
    expected = tomllib.load(handle)
print(demo.__file__)
print(demo.EXAMPLE)
print(demo.read_example() == expected)
"""


def test_the_wheel_ships_the_example_config_and_the_demo_reads_it(tmp_path: Path) -> None:
    # Built from a copy, so setuptools' build files never land in the source tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "config.example.toml"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("router", "plugins", "policies"):
        shutil.copytree(
            ROOT / package,
            source / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
        )
    wheels = tmp_path / "wheels"
    build = [*PIP, "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(wheels), str(source)], check=True, capture_output=True)  # noqa: S603
    (wheel,) = wheels.glob("smsrouter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(PACKAGED) == EXAMPLE.read_bytes()

    site = tmp_path / "site"
    install = [*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True)  # noqa: S603
    assert not (site / PACKAGED).is_symlink()
    env = {**os.environ, "PYTHONPATH": str(site)}
    answer = subprocess.run(  # noqa: S603
        [sys.executable, "-c", LOAD, str(EXAMPLE)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    module, example, same = answer.stdout.splitlines()
    assert Path(module).is_relative_to(site)
    assert Path(example) == site / PACKAGED
    assert same == "True"
