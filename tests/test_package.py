"""The wheel as a user installs it: built from this tree, installed with its runtime
dependencies only (no extras) in a fresh virtualenv, and run from outside the source tree.

A module imported at run time but declared only as a test extra, or a data file left out of
the package (standards, migrations, map assets, sample register), fails here. `make
package-check` runs only this module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.embedded.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("backend", "ingest", "maps", "sample_data")


def _source_files(*paths: str) -> list[str]:
    """The files of the tree under `paths`: tracked, or new and not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", *paths],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The virtualenv's bin folder, with the freshly built wheel installed in it."""
    work = tmp_path_factory.mktemp("package")
    source = work / "src"  # the files of the tree only: no stale build/ folder can slip into the wheel
    for name in _source_files("."):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    wheels = list((work / "dist").glob("riskmap-*.whl"))
    assert len(wheels) == 1, wheels
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    bin_dir = work / "venv" / "bin"
    done = subprocess.run(
        [str(bin_dir / "pip"), "install", "-q", "--no-compile", "--disable-pip-version-check", str(wheels[0])],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield bin_dir


def _run(installed: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run in an empty folder, so that nothing can be imported from the source tree."""
    cwd = installed.parent.parent
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def _site_packages(installed: Path) -> Path:
    done = _run(
        installed,
        str(installed / "python"),
        "-c",
        "import backend, pathlib; print(pathlib.Path(backend.__file__).parents[1])",
    )
    assert done.returncode == 0, done.stderr
    site = Path(done.stdout.strip())
    assert "site-packages" in site.parts, site  # not the source tree
    return site


def test_every_file_of_the_packages_is_installed(installed: Path) -> None:
    site = _site_packages(installed)
    tracked = _source_files(*PACKAGES)
    assert any(f.startswith("maps/static/vendor/") for f in tracked) and "sample_data/sites.geojson" in tracked
    missing = [f for f in tracked if not (site / f).is_file()]
    assert missing == []


def test_the_installed_command_and_app_start(installed: Path) -> None:
    help_text = _run(installed, str(installed / "riskmap"), "--help")
    assert help_text.returncode == 0, help_text.stderr
    for command in ("up", "serve", "migrate", "seed", "ingest", "simulate"):
        assert command in help_text.stdout
    script = (
        "from fastapi.testclient import TestClient\n"
        "from backend.api.main import create_app\n"
        "client = TestClient(create_app())\n"
        "for path in ('/static/riskmap.js', '/static/vendor/leaflet/leaflet.js', '/docs', '/openapi.json'):\n"
        "    r = client.get(path)\n"
        "    assert r.status_code == 200, (path, r.status_code)\n"
        "print('ok')\n"
    )
    app = _run(installed, str(installed / "python"), "-c", script)
    assert app.returncode == 0 and app.stdout.strip() == "ok", app.stdout + app.stderr


def test_the_installed_command_migrates_and_seeds_a_database(installed: Path, stack: Stack, tmp_path: Path) -> None:
    """Migrations and the sample register are read from the installed package."""
    database = "riskmap_package"
    stack.postgres.drop_database(database)
    url = stack.postgres.ensure_database(database)
    env = {
        **os.environ,
        "RISKMAP_DATABASE_URL": url,
        "RISKMAP_MQTT_URL": stack.mosquitto.url(),
        "RISKMAP_DATA_DIR": str(tmp_path / "data"),
    }
    try:
        migrated = _run(installed, str(installed / "riskmap"), "migrate", env=env)
        assert migrated.returncode == 0 and "schema up to date" in migrated.stdout, migrated.stderr
        seeded = _run(installed, str(installed / "riskmap"), "seed", env=env)
        assert seeded.returncode == 0, seeded.stderr
        assert "sites: 342 loaded" in seeded.stdout and "rejected" in seeded.stdout
        assert all(" 0 rejected" in line for line in seeded.stdout.splitlines() if "loaded" in line), seeded.stdout
    finally:
        stack.postgres.drop_database(database)
