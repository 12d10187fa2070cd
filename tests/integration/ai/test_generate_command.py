"""`flask answers generate`, run as an operator runs it: a real process against the suite's
database and Redis, writing answers with the real SDK through the fake OpenAI server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.services.ai_prompt import PROMPT_VERSION
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET
from tests.fake_openai import document_reply
from tests.live_server import ROOT, clean_env

pytestmark = pytest.mark.slow

LESSON = {
    "refusal": None,
    "subject": "fisica",
    "total_steps": 2,
    "steps": [
        {
            "title": "La idea",
            "content_type": "text",
            "content": "La velocidad media es la distancia entre el tiempo: $v = \\frac{d}{t}$.",
            "duration": 15,
            "canvas": [{"type": "arrow", "x1": 100, "y1": 300, "x2": 600, "y2": 300, "at": 10}],
        },
        {
            "title": "Resumen",
            "content_type": "summary",
            "content": "Divide la distancia entre el tiempo.",
            "duration": 10,
            "canvas": [],
        },
    ],
}


def generate(settings, fake, tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    env = (
        clean_env(
            tmp_path,
            DATABASE_URL=settings.database_url,
            REDIS_URL=settings.redis_url,
            SECRET_KEY=TEST_SECRET,
            SUPABASE_JWT_SECRET=TEST_JWT_SECRET,
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_MAX_RETRIES="0",
            LOG_LEVEL="WARNING",
        )
        | env
    )
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "answers", "generate", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def generated(container, subject: str = "fisica") -> list[dict]:
    with container.db.connection() as conn:
        return conn.execute(
            "SELECT a.question_text, a.generated_by, a.prompt_version FROM ai_answers a "
            "JOIN questions q ON q.question = a.question_text "
            "WHERE q.subject = %s AND a.generated_by <> 'manual' ORDER BY q.code",
            (subject,),
        ).fetchall()


def bank_codes(container, subject: str = "fisica") -> list[str]:
    with container.db.connection() as conn:
        rows = conn.execute(
            "SELECT code FROM questions WHERE subject = %s ORDER BY code", (subject,)
        ).fetchall()
    return [row["code"] for row in rows]


def test_generate_writes_missing_answers_and_resumes_where_it_stopped(
    settings, container, openai_fake, tmp_path
):
    openai_fake.default = lambda request: document_reply(LESSON)
    listed = generate(settings, openai_fake, tmp_path, "--subject", "fisica", "--dry-run")
    missing = [line.split("\t")[0] for line in listed.stdout.splitlines()]
    assert len(missing) >= 2  # the seed leaves some bank questions without a lesson
    first = generate(settings, openai_fake, tmp_path, "--subject", "fisica", "--limit", "1")
    assert first.returncode == 0, first.stderr
    assert "1 written, 0 failed" in first.stdout
    assert "tokens: 420 in" in first.stdout and "estimated cost: $" in first.stdout
    assert "writing answers" in first.stderr  # the progress bar
    assert len(generated(container)) == 1 and len(openai_fake.calls()) == 1
    assert generated(container)[0]["prompt_version"] == PROMPT_VERSION
    # The bank question's options went to the model.
    assert "Opciones" in openai_fake.calls()[0].user_message
    # A second run skips what is written and writes the rest.
    second = generate(settings, openai_fake, tmp_path, "--subject", "fisica")
    assert second.returncode == 0, second.stderr
    assert f"{len(missing) - 1} written" in second.stdout
    assert len(generated(container)) == len(missing) == len(openai_fake.calls())
    again = generate(settings, openai_fake, tmp_path, "--subject", "fisica")
    assert "already has an answer" in again.stdout


def test_dry_run_lists_and_calls_nothing(settings, container, openai_fake, tmp_path):
    result = generate(settings, openai_fake, tmp_path, "--subject", "fisica", "--dry-run")
    assert result.returncode == 0, result.stderr
    listed = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert listed == bank_codes(container)
    assert openai_fake.requests == []


def test_stale_answers_are_rewritten_and_manual_ones_never(
    settings, container, openai_fake, tmp_path
):
    openai_fake.default = lambda request: document_reply(LESSON)
    codes = bank_codes(container)[:2]
    first = generate(settings, openai_fake, tmp_path, "--code", codes[0], "--code", codes[1])
    assert first.returncode == 0 and "2 written" in first.stdout
    with container.db.transaction() as conn:
        conn.execute("UPDATE ai_answers SET prompt_version = 'old' WHERE generated_by <> 'manual'")
        manual = conn.execute(
            "UPDATE ai_answers SET generated_by = 'manual', answer_steps = '[]'::jsonb "
            "WHERE question_text = (SELECT question FROM questions WHERE code = %s) "
            "RETURNING answer_steps",
            (codes[1],),
        ).fetchone()
    listed = generate(
        settings, openai_fake, tmp_path, "--subject", "fisica", "--stale", "--dry-run"
    )
    stale = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [code for code, reason, _ in stale if reason == "stale"] == [codes[0]]
    calls = len(openai_fake.calls())
    written = generate(
        settings, openai_fake, tmp_path, "--subject", "fisica", "--stale", "--limit", "1"
    )
    assert written.returncode == 0 and "1 written" in written.stdout
    assert len(openai_fake.calls()) == calls + 1
    with container.db.connection() as conn:
        rows = {
            row["code"]: row
            for row in conn.execute(
                "SELECT q.code, a.prompt_version, a.generated_by, a.answer_steps "
                "FROM ai_answers a JOIN questions q ON q.question = a.question_text "
                "WHERE q.code = ANY(%s)",
                (codes,),
            ).fetchall()
        }
    assert rows[codes[0]]["prompt_version"] == PROMPT_VERSION  # rewritten by this prompt
    assert rows[codes[1]]["generated_by"] == "manual"  # never replaced
    assert rows[codes[1]]["answer_steps"] == manual["answer_steps"]


def test_failures_are_counted_and_the_run_says_so(settings, container, openai_fake, tmp_path):
    from tests.fake_openai import error_reply

    openai_fake.default = lambda request: error_reply(500, "server_error")
    result = generate(settings, openai_fake, tmp_path, "--subject", "fisica", "--limit", "2")
    assert result.returncode == 1
    assert "0 written, 2 failed" in result.stdout
    assert generated(container) == []


def test_without_a_key_it_says_what_is_missing(settings, openai_fake, tmp_path):
    result = generate(
        settings, openai_fake, tmp_path, "--subject", "fisica", "--limit", "1", OPENAI_API_KEY=""
    )
    assert result.returncode == 1 and "OPENAI_API_KEY" in result.stderr
