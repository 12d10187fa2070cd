"""SQL for `ai_answers`: precomputed and generated answer documents."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from app.repositories.base import DbConnection

_COLUMNS = """id, question_hash, question_text, normalized_question, answer_steps,
    total_duration, subject, usage_count, helpful_votes, total_votes, generated_by,
    prompt_tokens, completion_tokens, needs_review, review_reason, flagged_at, created_at,
    updated_at, prompt_version, checks_run, checks_passed, checks_failed, follow_up_of"""


class AiAnswersRepository:
    def get_by_hash(self, conn: DbConnection, question_hash: str) -> dict[str, Any] | None:
        return conn.execute(
            f"SELECT {_COLUMNS} FROM ai_answers WHERE question_hash = %s", (question_hash,)
        ).fetchone()

    def upsert(
        self,
        conn: DbConnection,
        *,
        question_hash: str,
        question_text: str,
        normalized_question: str,
        answer_steps: list[dict],
        total_duration: int,
        subject: str | None,
        generated_by: str,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        answer_id: str | None = None,
        prompt_version: str | None = None,
        checks: tuple[int, int, int] = (0, 0, 0),
        follow_up_of: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Insert or replace the answer for a hash, keeping its counters.
        Returns (row, created) where created is False when an existing answer was replaced.
        New steps clear a review mark: the rewrite is the review."""
        row = conn.execute(
            f"""
            INSERT INTO ai_answers (id, question_hash, question_text, normalized_question,
                answer_steps, total_duration, subject, generated_by,
                prompt_tokens, completion_tokens, prompt_version,
                checks_run, checks_passed, checks_failed, follow_up_of)
            VALUES (COALESCE(%s::uuid, gen_random_uuid()), %s, %s, %s, %s, %s, %s, %s, %s, %s,
                %s, %s, %s, %s, %s)
            ON CONFLICT (question_hash) DO UPDATE SET
                question_text = EXCLUDED.question_text,
                normalized_question = EXCLUDED.normalized_question,
                answer_steps = EXCLUDED.answer_steps,
                total_duration = EXCLUDED.total_duration,
                subject = EXCLUDED.subject,
                generated_by = EXCLUDED.generated_by,
                prompt_tokens = EXCLUDED.prompt_tokens,
                completion_tokens = EXCLUDED.completion_tokens,
                prompt_version = EXCLUDED.prompt_version,
                checks_run = EXCLUDED.checks_run,
                checks_passed = EXCLUDED.checks_passed,
                checks_failed = EXCLUDED.checks_failed,
                needs_review = ai_answers.needs_review
                    AND ai_answers.answer_steps = EXCLUDED.answer_steps,
                review_reason = CASE WHEN ai_answers.answer_steps = EXCLUDED.answer_steps
                    THEN ai_answers.review_reason END,
                flagged_at = CASE WHEN ai_answers.answer_steps = EXCLUDED.answer_steps
                    THEN ai_answers.flagged_at END
            RETURNING {_COLUMNS}, (xmax = 0) AS created
            """,
            (
                answer_id,
                question_hash,
                question_text,
                normalized_question,
                Jsonb(answer_steps),
                total_duration,
                subject,
                generated_by,
                prompt_tokens,
                completion_tokens,
                prompt_version,
                *checks,
                follow_up_of,
            ),
        ).fetchone()
        assert row is not None
        created = row.pop("created")
        return row, created

    def origins(self, conn: DbConnection, hashes: list[str]) -> dict[str, dict[str, Any]]:
        """Who wrote the answers of these hashes (generated_by, prompt_version), by hash."""
        rows = conn.execute(
            "SELECT question_hash, generated_by, prompt_version FROM ai_answers "
            "WHERE question_hash = ANY(%s)",
            (hashes,),
        ).fetchall()
        return {row["question_hash"]: row for row in rows}

    def increment_usage(self, conn: DbConnection, answer_id: str) -> int | None:
        row = conn.execute(
            "UPDATE ai_answers SET usage_count = usage_count + 1 WHERE id = %s "
            "RETURNING usage_count",
            (answer_id,),
        ).fetchone()
        return row["usage_count"] if row else None

    def record_vote(self, conn: DbConnection, answer_id: str, *, helpful: bool) -> dict | None:
        """Count one vote atomically in SQL (no read-modify-write in Python)."""
        return conn.execute(
            """
            UPDATE ai_answers
               SET total_votes = total_votes + 1,
                   helpful_votes = helpful_votes + CASE WHEN %s THEN 1 ELSE 0 END
             WHERE id = %s
            RETURNING helpful_votes, total_votes
            """,
            (helpful, answer_id),
        ).fetchone()

    def get_by_id(self, conn: DbConnection, answer_id: str) -> dict[str, Any] | None:
        return conn.execute(
            f"SELECT {_COLUMNS} FROM ai_answers WHERE id = %s", (answer_id,)
        ).fetchone()

    def find_similar(
        self, conn: DbConnection, normalized_question: str, *, threshold: float, limit: int
    ) -> list[dict[str, Any]]:
        """Stored answers whose normalized question is close (pg_trgm similarity, through the
        trigram index). Must run inside a transaction: the threshold is set for it alone."""
        conn.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true)", (str(threshold),)
        )
        return conn.execute(
            """
            SELECT question_text, question_hash, normalized_question,
                   similarity(normalized_question, %(q)s) AS similarity
              FROM ai_answers
             WHERE normalized_question %% %(q)s AND follow_up_of IS NULL
             ORDER BY similarity DESC, usage_count DESC
             LIMIT %(limit)s
            """,
            {"q": normalized_question, "limit": limit},
        ).fetchall()

    def lesson_count(self, conn: DbConnection, answer_id: str) -> int:
        """How many lessons (interactions) showed this answer."""
        row = conn.execute(
            "SELECT count(*) AS n FROM interactions WHERE answer_id = %s", (answer_id,)
        ).fetchone()
        return int(row["n"]) if row else 0

    def flag_for_review(self, conn: DbConnection, answer_id: str, reason: str) -> bool:
        """Mark the answer for review, once: True if this call marked it."""
        row = conn.execute(
            """
            UPDATE ai_answers SET needs_review = TRUE, review_reason = %s, flagged_at = NOW()
             WHERE id = %s AND NOT needs_review
            RETURNING id
            """,
            (reason, answer_id),
        ).fetchone()
        return row is not None

    def clear_review(self, conn: DbConnection, question_hash: str) -> bool:
        row = conn.execute(
            """
            UPDATE ai_answers SET needs_review = FALSE, review_reason = NULL, flagged_at = NULL
             WHERE question_hash = %s
            RETURNING id
            """,
            (question_hash,),
        ).fetchone()
        return row is not None

    def list_needing_review(self, conn: DbConnection) -> list[dict[str, Any]]:
        return conn.execute(
            f"SELECT {_COLUMNS} FROM ai_answers WHERE needs_review ORDER BY flagged_at, id"
        ).fetchall()

    def list_all(self, conn: DbConnection) -> list[dict[str, Any]]:
        """Every answer to a question of its own (not the short answers of follow-ups)."""
        return conn.execute(
            f"SELECT {_COLUMNS} FROM ai_answers WHERE follow_up_of IS NULL ORDER BY created_at, id"
        ).fetchall()

    def count(self, conn: DbConnection) -> int:
        row = conn.execute("SELECT count(*) AS n FROM ai_answers").fetchone()
        return int(row["n"]) if row else 0
