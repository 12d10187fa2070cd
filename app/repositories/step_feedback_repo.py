"""SQL for `step_feedback`: "no entendí" (or "ahora sí") on one step of a lesson."""

from __future__ import annotations

from app.repositories.base import DbConnection


class StepFeedbackRepository:
    def save(
        self,
        conn: DbConnection,
        *,
        interaction_id: str,
        user_id: str,
        answer_id: str,
        step_number: int,
        understood: bool,
    ) -> None:
        """One opinion per step of a lesson: a second one replaces the first."""
        conn.execute(
            """
            INSERT INTO step_feedback (interaction_id, step_number, user_id, answer_id, understood)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (interaction_id, step_number) DO UPDATE SET understood = EXCLUDED.understood
            """,
            (interaction_id, step_number, user_id, answer_id, understood),
        )

    def confused_count(self, conn: DbConnection, answer_id: str, step_number: int) -> int:
        """Distinct students who did not understand this step of this answer."""
        row = conn.execute(
            """
            SELECT count(DISTINCT user_id) AS n FROM step_feedback
             WHERE answer_id = %s AND step_number = %s AND NOT understood
            """,
            (answer_id, step_number),
        ).fetchone()
        return int(row["n"]) if row else 0

    def forget_answer(self, conn: DbConnection, answer_id: str) -> None:
        """The answer's steps were rewritten: opinions on the old ones no longer apply."""
        conn.execute("DELETE FROM step_feedback WHERE answer_id = %s", (answer_id,))
