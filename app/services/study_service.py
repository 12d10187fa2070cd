"""Study sessions: one active at a time per student, counted as they practise."""

from __future__ import annotations

from app.errors import NotFound
from app.models.study import (
    HistoryQuery,
    SessionHistory,
    SessionStart,
    StudySessionOut,
    SubjectStats,
    session_out,
)
from app.repositories.base import Database
from app.repositories.study_repo import StudyRepository


class StudyService:
    def __init__(self, *, db: Database, study: StudyRepository):
        self.db = db
        self.study = study

    def start(self, *, user_id: str, request: SessionStart) -> tuple[StudySessionOut, bool]:
        """The active session, created if there is none: (session, created)."""
        metadata = {"subject": request.subject} if request.subject else {}
        with self.db.transaction() as conn:
            row = self.study.create_session(
                conn, user_id=user_id, session_type=request.session_type, metadata=metadata
            )
            if row is not None:
                return session_out(row), True
            active = self.study.active_session(conn, user_id)
        if active is None:  # ended between the two statements: extremely unlikely, say so
            raise NotFound("No pudimos iniciar la sesión de estudio; inténtalo de nuevo.")
        return session_out(active), False

    def current(self, *, user_id: str) -> StudySessionOut:
        with self.db.connection() as conn:
            row = self.study.active_session(conn, user_id)
        if row is None:
            raise NotFound("No tienes una sesión de estudio activa.")
        return session_out(row)

    def end(self, *, user_id: str, session_id: str) -> StudySessionOut:
        with self.db.transaction() as conn:
            row = self.study.end_session(conn, session_id, user_id=user_id, status="completed")
            if row is None:
                existing = self.study.get_session(conn, session_id, user_id=user_id)
                if existing is None:
                    raise NotFound("No encontramos esa sesión de estudio.")
                row = existing  # already ended: ending again changes nothing
        return session_out(row)

    def history(self, *, user_id: str, query: HistoryQuery) -> SessionHistory:
        with self.db.connection() as conn:
            rows = self.study.history(conn, user_id, before=query.before, limit=query.limit + 1)
        page, more = rows[: query.limit], len(rows) > query.limit
        return SessionHistory(
            items=[session_out(row) for row in page],
            next_before=page[-1]["started_at"] if more else None,
        )

    def stats(self, *, user_id: str) -> list[SubjectStats]:
        with self.db.connection() as conn:
            rows = self.study.subject_stats(conn, user_id)
        return [
            SubjectStats(
                subject=row["subject"],
                total_practiced=row["total_practiced"],
                total_correct=row["total_correct"],
                accuracy=round(row["total_correct"] / row["total_practiced"], 3)
                if row["total_practiced"]
                else 0.0,
                mastery_level=float(row["mastery_level"]),
                streak_days=row["streak_days"],
                last_practice_at=row["last_practice_at"],
            )
            for row in rows
        ]
