"""`flask --app app ask` against a running server, as a person would run it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_openai import running_fake_openai
from tests.live_server import clean_env, running_server

FIXTURE = Path(__file__).parents[2] / "fixtures" / "answers.json"
DOCUMENT = json.loads(FIXTURE.read_text())[0]
pytestmark = pytest.mark.slow


def test_the_terminal_client_shows_the_whole_lesson(pg_server_url, redis_url, tmp_path):
    with running_server(pg_server_url, redis_url, tmp_path, STREAM_CHUNK_INTERVAL_MS="5") as server:
        server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        env = clean_env(
            tmp_path,
            DATABASE_URL=server.database_url,
            REDIS_URL=server.container.settings.redis_url,
            SUPABASE_JWT_SECRET=server.container.settings.supabase_jwt_secret,
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "app",
                "ask",
                "¿Qué es una derivada?",
                "--url",
                server.url,
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    shown = result.stdout
    for number, step in enumerate(DOCUMENT["steps"], start=1):
        assert f"[{number}] {step['title']}" in shown
    assert "⟨dibujo axes" in shown and "⟨dibujo latex" in shown
    # The drawings are shown inline as " ⟨dibujo ...⟩ "; without them the text is exact.
    text_only = re.sub(r" ⟨dibujo [^⟩]*⟩ ", "", shown)
    for step in DOCUMENT["steps"]:
        assert step["content"] in text_only
    assert "fin de la explicación" in shown


def test_without_a_server_it_says_so(tmp_path, database_url, redis_url):
    from app.devstack import free_port

    env = clean_env(
        tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, SUPABASE_JWT_SECRET="x" * 40
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "ask",
            "hola",
            "--url",
            f"http://127.0.0.1:{free_port()}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert "No se pudo conectar" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_the_terminal_client_asks_by_voice(pg_server_url, redis_url, tmp_path):
    recording = Path(__file__).parents[2] / "fixtures" / "voice" / "pregunta.webm"
    with (
        running_fake_openai() as fake,
        running_server(
            pg_server_url,
            redis_url,
            tmp_path,
            STREAM_CHUNK_INTERVAL_MS="5",
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_TRANSCRIBE_MODEL="gpt-4o-mini-transcribe",
            SOCKET_MAX_MESSAGE_BYTES="4000",  # the recording goes in several pieces
        ) as server,
    ):
        server.container.answers.import_answers(json.loads(FIXTURE.read_text()))
        fake.hears(recording.read_bytes(), "¿Qué es una derivada?", confidence=0.95)
        env = clean_env(
            tmp_path,
            DATABASE_URL=server.database_url,
            REDIS_URL=server.container.settings.redis_url,
            SUPABASE_JWT_SECRET=server.container.settings.supabase_jwt_secret,
        )
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "ask", "--audio", str(recording),
             "--url", server.url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        [call] = fake.calls("/v1/audio/transcriptions")
        assert call.files["file"][2] == recording.read_bytes()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Te escuché: «¿Qué es una derivada?» (confianza 95%)" in result.stdout
    for number, step in enumerate(DOCUMENT["steps"], start=1):
        assert f"[{number}] {step['title']}" in result.stdout
    assert "fin de la explicación" in result.stdout
