"""The student page (web/) in a real browser against a real server process: the page built from
the current source, Debian's Chromium driven by playwright-core (web/e2e/lesson.e2e.js), the
real socket.io-client. Screenshots go to test-artifacts/web/.

Needs Node.js 20+ with npm, and Chromium (`.ci/run` installs Debian's when missing); without
them the test is skipped and says which is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live_server import ROOT, running_server

WEB = ROOT / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "web"

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if not shutil.which("node") or not shutil.which("npm"):
        return "Node.js and npm not found: the student page's browser tests need them"
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    return None


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=WEB, capture_output=True, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def built_page(tmp_path_factory) -> Path:
    """The page built from the source as it is now (never a stale web/dist)."""
    missing = _missing()
    if missing:
        pytest.skip(missing)
    stamp = WEB / "node_modules" / ".installed"
    lock = WEB / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        installed = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], timeout=600)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        stamp.touch()
    dist = tmp_path_factory.mktemp("web") / "dist"
    built = _run(["npx", "vite", "build", "--outDir", str(dist), "--emptyOutDir"], timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    return dist


@pytest.mark.timeout(600)
def test_the_student_page_in_chromium(built_page, pg_server_url, redis_url, tmp_path):
    with running_server(pg_server_url, redis_url, tmp_path, WEB_DIST_DIR=str(built_page)) as server:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        result = _run(
            ["node", "--test", "--test-reporter=spec", "e2e/lesson.e2e.js"],
            env={
                **os.environ,
                "PIZARRA_URL": server.url,
                "CHROMIUM": CHROMIUM,
                "ARTIFACTS": str(ARTIFACTS),
            },
            timeout=540,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    assert {"phone-streaming.png", "paused.png", "follow-up.png", "progress.png"} <= set(shots)
