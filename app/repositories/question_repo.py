"""SQL for the exam question bank (`questions`)."""

from __future__ import annotations

from typing import Any

from app.repositories.base import DbConnection

_COLUMNS = """id, code, subject, topic, difficulty, question, options, correct_answer,
    explanation, use_latex, times_seen, times_correct, exam_probability, tags,
    created_at, updated_at"""


class QuestionRepository:
    def get_by_code(self, conn: DbConnection, code: str) -> dict[str, Any] | None:
        return conn.execute(f"SELECT {_COLUMNS} FROM questions WHERE code = %s", (code,)).fetchone()

    def get_by_id(self, conn: DbConnection, question_id: str) -> dict[str, Any] | None:
        return conn.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE id = %s", (question_id,)
        ).fetchone()

    def list_questions(
        self,
        conn: DbConnection,
        *,
        subject: str | None = None,
        topic: str | None = None,
        difficulty: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Questions filtered by subject/topic/difficulty, most likely in the exam first."""
        return conn.execute(
            f"""
            SELECT {_COLUMNS} FROM questions
             WHERE (%(subject)s::text IS NULL OR subject = %(subject)s)
               AND (%(topic)s::text IS NULL OR topic = %(topic)s)
               AND (%(difficulty)s::text IS NULL OR difficulty = %(difficulty)s)
             ORDER BY exam_probability DESC, code
             LIMIT %(limit)s OFFSET %(offset)s
            """,
            {
                "subject": subject,
                "topic": topic,
                "difficulty": difficulty,
                "limit": limit,
                "offset": offset,
            },
        ).fetchall()

    def record_attempt(self, conn: DbConnection, question_id: str, *, correct: bool) -> dict | None:
        return conn.execute(
            """
            UPDATE questions
               SET times_seen = times_seen + 1,
                   times_correct = times_correct + CASE WHEN %s THEN 1 ELSE 0 END
             WHERE id = %s
            RETURNING times_seen, times_correct
            """,
            (correct, question_id),
        ).fetchone()

    def list_subjects(self, conn: DbConnection) -> list[dict[str, Any]]:
        return conn.execute(
            "SELECT subject, count(*) AS questions FROM questions GROUP BY subject ORDER BY subject"
        ).fetchall()
