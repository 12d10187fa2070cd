"""SQL for the exam question bank (`questions`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from app.repositories.base import DbConnection

_COLUMNS = """id, code, subject, topic, difficulty, question, options, correct_answer,
    explanation, use_latex, times_seen, times_correct, exam_probability, tags,
    created_at, updated_at"""


class QuestionRepository:
    def get_by_code(self, conn: DbConnection, code: str) -> dict[str, Any] | None:
        return conn.execute(f"SELECT {_COLUMNS} FROM questions WHERE code = %s", (code,)).fetchone()

    def upsert(self, conn: DbConnection, question: dict[str, Any]) -> bool:
        """Insert or update a bank question by code, keeping its statistics; True if new."""
        row = conn.execute(
            """
            INSERT INTO questions (code, subject, topic, difficulty, question, options,
                correct_answer, explanation, use_latex, exam_probability, tags)
            VALUES (%(code)s, %(subject)s, %(topic)s, %(difficulty)s, %(question)s, %(options)s,
                %(correct_answer)s, %(explanation)s, %(use_latex)s, %(exam_probability)s,
                %(tags)s)
            ON CONFLICT (code) DO UPDATE SET
                subject = EXCLUDED.subject, topic = EXCLUDED.topic,
                difficulty = EXCLUDED.difficulty, question = EXCLUDED.question,
                options = EXCLUDED.options, correct_answer = EXCLUDED.correct_answer,
                explanation = EXCLUDED.explanation, use_latex = EXCLUDED.use_latex,
                exam_probability = EXCLUDED.exam_probability, tags = EXCLUDED.tags
            RETURNING (xmax = 0) AS created
            """,
            {**question, "options": Jsonb(question["options"])},
        ).fetchone()
        return bool(row and row["created"])

    def list_for_answers(
        self, conn: DbConnection, *, subject: str | None, codes: list[str] | None
    ) -> list[dict[str, Any]]:
        """Bank questions (of a subject, or these codes), in code order."""
        return conn.execute(
            f"""
            SELECT {_COLUMNS} FROM questions
             WHERE (%(subject)s::text IS NULL OR subject = %(subject)s)
               AND (%(codes)s::text[] IS NULL OR code = ANY(%(codes)s))
             ORDER BY code
            """,
            {"subject": subject, "codes": codes},
        ).fetchall()

    def get_by_id(self, conn: DbConnection, question_id: str) -> dict[str, Any] | None:
        return conn.execute(
            f"SELECT {_COLUMNS} FROM questions WHERE id = %s", (question_id,)
        ).fetchone()

    def search(
        self,
        conn: DbConnection,
        *,
        subject: str | None,
        topic: str | None,
        difficulty: str | None,
        tag: str | None,
        text: str | None,
        after: tuple[Decimal, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """A page of the bank, most likely in the exam first, continuing after a keyset
        (exam_probability, code). `text` matches question or topic ignoring case and accents."""
        pattern = None
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        return conn.execute(
            f"""
            SELECT {_COLUMNS} FROM questions
             WHERE (%(subject)s::text IS NULL OR subject = %(subject)s)
               AND (%(topic)s::text IS NULL OR public.search_text(coalesce(topic, ''))
                                                = public.search_text(%(topic)s))
               AND (%(difficulty)s::text IS NULL OR difficulty = %(difficulty)s)
               AND (%(tag)s::text IS NULL OR tags @> ARRAY[%(tag)s]::text[])
               AND (%(pattern)s::text IS NULL
                    OR public.search_text(question) LIKE public.search_text(%(pattern)s)
                    OR public.search_text(coalesce(topic, ''))
                       LIKE public.search_text(%(pattern)s))
               AND (%(after_p)s::numeric IS NULL
                    OR exam_probability < %(after_p)s::numeric
                    OR (exam_probability = %(after_p)s::numeric AND code > %(after_c)s::text))
             ORDER BY exam_probability DESC, code
             LIMIT %(limit)s
            """,
            {
                "subject": subject,
                "topic": topic,
                "difficulty": difficulty,
                "tag": tag,
                "pattern": pattern,
                "after_p": after[0] if after else None,
                "after_c": after[1] if after else None,
                "limit": limit,
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
