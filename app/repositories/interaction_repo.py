"""SQL for `interactions`: every question a student asked, what answered it, and feedback."""

from __future__ import annotations

from typing import Any

from app.repositories.base import DbConnection

_COLUMNS = """id, user_id, session_id, question_text, question_type, answer_id, question_id,
    response_time_ms, credits_used, completed, rating, understood, seen_in_exam, created_at"""


class InteractionRepository:
    def insert(
        self,
        conn: DbConnection,
        *,
        user_id: str,
        session_id: str | None,
        question_text: str,
        question_type: str,
        answer_id: str | None,
        question_id: str | None,
        response_time_ms: int,
        credits_used: int,
        completed: bool,
    ) -> str | None:
        """The new interaction's id; None when the user's account no longer exists."""
        row = conn.execute(
            """
            INSERT INTO interactions (user_id, session_id, question_text, question_type,
                answer_id, question_id, response_time_ms, credits_used, completed)
            SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s
             WHERE EXISTS (SELECT 1 FROM auth.users WHERE id = %s)
            RETURNING id
            """,
            (
                user_id,
                session_id,
                question_text,
                question_type,
                answer_id,
                question_id,
                response_time_ms,
                credits_used,
                completed,
                user_id,
            ),
        ).fetchone()
        return str(row["id"]) if row else None

    def insert_pending(self, conn: DbConnection, record: dict[str, Any]) -> bool:
        """An interaction taken while PostgreSQL was unavailable, with the id and time it was
        given then; False when it is already here (written before) or its account is gone."""
        row = conn.execute(
            """
            INSERT INTO interactions (id, user_id, session_id, question_text, question_type,
                answer_id, question_id, response_time_ms, credits_used, completed, created_at)
            SELECT %s, %s, %s, %s, %s,
                   (SELECT id FROM ai_answers WHERE id = %s::uuid),
                   (SELECT id FROM questions WHERE id = %s::uuid),
                   %s, 1, %s, %s
             WHERE EXISTS (SELECT 1 FROM auth.users WHERE id = %s)
            ON CONFLICT (id) DO NOTHING
            RETURNING id
            """,
            (
                record["interaction_id"],
                record["user_id"],
                record.get("session_id"),
                record["question_text"],
                record["question_type"],
                record.get("answer_id"),
                record.get("question_id"),
                record.get("response_time_ms", 0),
                bool(record.get("completed")),
                record["asked_at"],
                record["user_id"],
            ),
        ).fetchone()
        return row is not None

    def set_credits_used(self, conn: DbConnection, interaction_id: str, credits: int) -> None:
        conn.execute(
            "UPDATE interactions SET credits_used = %s WHERE id = %s", (credits, interaction_id)
        )

    def find_for_feedback(
        self, conn: DbConnection, *, user_id: str, answer_id: str, interaction_id: str | None
    ) -> dict[str, Any] | None:
        """The student's own interaction with this answer (the given one, or the latest)."""
        return conn.execute(
            f"""
            SELECT {_COLUMNS} FROM interactions
             WHERE user_id = %s AND answer_id = %s AND (%s::uuid IS NULL OR id = %s::uuid)
             ORDER BY created_at DESC LIMIT 1
             FOR UPDATE
            """,
            (user_id, answer_id, interaction_id, interaction_id),
        ).fetchone()

    def save_feedback(
        self,
        conn: DbConnection,
        interaction_id: str,
        *,
        rating: int | None,
        understood: bool | None,
        seen_in_exam: bool,
    ) -> dict[str, Any]:
        row = conn.execute(
            f"""
            UPDATE interactions SET rating = %s, understood = %s, seen_in_exam = %s
             WHERE id = %s RETURNING {_COLUMNS}
            """,
            (rating, understood, seen_in_exam, interaction_id),
        ).fetchone()
        assert row is not None
        return row

    def mark_completed(
        self, conn: DbConnection, interaction_id: str, answer_id: str | None = None
    ) -> bool:
        """Mark the lesson seen to its end; an answer written during the lesson is named now
        that it is stored. True when the interaction had no answer until now."""
        row = conn.execute(
            """
            UPDATE interactions i SET completed = TRUE,
                answer_id = COALESCE(i.answer_id, %s::uuid)
            FROM (SELECT answer_id FROM interactions WHERE id = %s) before
            WHERE i.id = %s
            RETURNING before.answer_id IS NULL AND i.answer_id IS NOT NULL AS named
            """,
            (answer_id, interaction_id, interaction_id),
        ).fetchone()
        return bool(row and row["named"])
