"""SQL for study sessions and per-subject progress (`study_sessions`, `user_progress`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from psycopg.types.json import Jsonb

from app.repositories.base import DbConnection

_SESSION = """id, user_id, session_type, status, questions_asked, questions_answered,
    correct_answers, total_duration_seconds, started_at, ended_at, metadata"""
_PROGRESS = """subject, total_practiced, total_correct, mastery_level, streak_days,
    last_practice_at, last_practice_date"""


class StudyRepository:
    # -- study sessions -------------------------------------------------------------------
    def active_session(self, conn: DbConnection, user_id: str, *, for_update: bool = False):
        lock = " FOR UPDATE" if for_update else ""
        return conn.execute(
            f"SELECT {_SESSION} FROM study_sessions WHERE user_id = %s AND status = 'active'"
            + lock,
            (user_id,),
        ).fetchone()

    def get_session(self, conn: DbConnection, session_id: str, *, user_id: str):
        """Only the owner's session: another student's id reads as missing."""
        return conn.execute(
            f"SELECT {_SESSION} FROM study_sessions WHERE id = %s AND user_id = %s",
            (session_id, user_id),
        ).fetchone()

    def create_session(
        self, conn: DbConnection, *, user_id: str, session_type: str, metadata: dict[str, Any]
    ):
        return conn.execute(
            f"""
            INSERT INTO study_sessions (user_id, session_type, metadata) VALUES (%s, %s, %s)
            ON CONFLICT (user_id) WHERE status = 'active' DO NOTHING
            RETURNING {_SESSION}
            """,
            (user_id, session_type, Jsonb(metadata)),
        ).fetchone()

    def end_session(self, conn: DbConnection, session_id: str, *, user_id: str, status: str):
        return conn.execute(
            f"""
            UPDATE study_sessions
               SET status = %s, ended_at = now(),
                   total_duration_seconds = GREATEST(0, EXTRACT(EPOCH FROM now() - started_at))::int
             WHERE id = %s AND user_id = %s AND status = 'active'
            RETURNING {_SESSION}
            """,
            (status, session_id, user_id),
        ).fetchone()

    def count_answer(self, conn: DbConnection, session_id: str, *, correct: bool) -> None:
        conn.execute(
            """
            UPDATE study_sessions
               SET questions_answered = questions_answered + 1,
                   correct_answers = correct_answers + CASE WHEN %s THEN 1 ELSE 0 END
             WHERE id = %s AND status = 'active'
            """,
            (correct, session_id),
        )

    def count_question_asked(self, conn: DbConnection, session_id: str) -> None:
        conn.execute(
            "UPDATE study_sessions SET questions_asked = questions_asked + 1 "
            "WHERE id = %s AND status = 'active'",
            (session_id,),
        )

    def history(
        self, conn: DbConnection, user_id: str, *, before: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        return conn.execute(
            f"""
            SELECT {_SESSION} FROM study_sessions
             WHERE user_id = %s AND (%s::timestamptz IS NULL OR started_at < %s::timestamptz)
             ORDER BY started_at DESC LIMIT %s
            """,
            (user_id, before, before, limit),
        ).fetchall()

    # -- progress -------------------------------------------------------------------------
    def progress(self, conn: DbConnection, user_id: str, subject: str, *, for_update: bool):
        lock = " FOR UPDATE" if for_update else ""
        return conn.execute(
            f"SELECT {_PROGRESS} FROM user_progress WHERE user_id = %s AND subject = %s" + lock,
            (user_id, subject),
        ).fetchone()

    def ensure_progress(self, conn: DbConnection, user_id: str, subject: str) -> None:
        conn.execute(
            "INSERT INTO user_progress (user_id, subject) VALUES (%s, %s) "
            "ON CONFLICT (user_id, subject) DO NOTHING",
            (user_id, subject),
        )

    def save_progress(
        self,
        conn: DbConnection,
        user_id: str,
        subject: str,
        *,
        total_practiced: int,
        total_correct: int,
        mastery_level: Decimal,
        streak_days: int,
        practice_date: date,
    ):
        return conn.execute(
            f"""
            UPDATE user_progress
               SET total_practiced = %s, total_correct = %s, mastery_level = %s,
                   streak_days = %s, last_practice_at = now(), last_practice_date = %s
             WHERE user_id = %s AND subject = %s
            RETURNING {_PROGRESS}
            """,
            (
                total_practiced,
                total_correct,
                mastery_level,
                streak_days,
                practice_date,
                user_id,
                subject,
            ),
        ).fetchone()

    def subject_stats(self, conn: DbConnection, user_id: str) -> list[dict[str, Any]]:
        return conn.execute(
            f"SELECT {_PROGRESS} FROM user_progress WHERE user_id = %s ORDER BY subject",
            (user_id,),
        ).fetchall()
