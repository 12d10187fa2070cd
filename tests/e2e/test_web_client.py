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

from tests.fake_openai import Reply, running_fake_openai
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


def _browser_tests(script: str, url: str, **env: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    result = _run(
        ["node", "--test", "--test-reporter=spec", f"e2e/{script}"],
        env={
            **os.environ,
            "PIZARRA_URL": url,
            "CHROMIUM": CHROMIUM,
            "ARTIFACTS": str(ARTIFACTS),
            **env,
        },
        timeout=540,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# skipped 0" in result.stdout or "ℹ skipped 0" in result.stdout, result.stdout


@pytest.mark.timeout(600)
def test_lessons_in_chromium(built_page, pg_server_url, redis_url, tmp_path):
    with running_server(pg_server_url, redis_url, tmp_path, WEB_DIST_DIR=str(built_page)) as server:
        _browser_tests("lesson.e2e.js", server.url)
    shots = {p.name for p in ARTIFACTS.glob("*.png")}
    assert {"phone-streaming.png", "paused.png", "follow-up.png", "progress.png"} <= shots


QUESTION = "¿Cómo se resuelve una ecuación de segundo grado?"


@pytest.mark.timeout(600)
def test_voice_questions_in_chromium(built_page, pg_server_url, redis_url, tmp_path):
    microphone = ROOT / "tests" / "fixtures" / "voice" / "pregunta.wav"
    with (
        running_fake_openai() as fake,
        running_server(
            pg_server_url,
            redis_url,
            tmp_path,
            WEB_DIST_DIR=str(built_page),
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_MODERATION="false",
        ) as server,
    ):
        # The first recording is heard as silence, the second as the question.
        fake.script_transcriptions(Reply(content=""), Reply(content=QUESTION))
        _browser_tests("voice.e2e.js", server.url, FAKE_MIC=str(microphone), TRANSCRIPT=QUESTION)
        uploads = [r for r in fake.requests if r.path == "/v1/audio/transcriptions"]
        with server.container.db.connection() as conn:
            kinds = conn.execute(
                "SELECT question_type, count(*) AS n FROM interactions GROUP BY 1"
            ).fetchall()
            metered = conn.execute(
                "SELECT count(*) AS n FROM credit_usage WHERE action_type = 'voice'"
            ).fetchone()
    # Each recording reached the provider as the browser made it: WebM, in Spanish, whole.
    assert len(uploads) == 2
    for upload in uploads:
        name, content_type, audio = upload.files["file"]
        assert (name, content_type) == ("audio.webm", "audio/webm")
        assert audio[:4] == b"\x1a\x45\xdf\xa3"
        assert upload.body["language"] == "es"
    # Both voice questions were asked as such; each server transcription was metered.
    assert {row["question_type"]: row["n"] for row in kinds}["voice"] == 2
    assert metered["n"] == 2
