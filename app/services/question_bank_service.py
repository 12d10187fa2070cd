"""The exam question bank: browsing, answering a question, and the progress it builds."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.errors import InvalidInput, NotFound
from app.models.account import SubjectProgress
from app.models.questions import (
    AttemptIn,
    AttemptResult,
    QuestionFilters,
    QuestionOut,
    QuestionPage,
    question_out,
)
from app.repositories.base import Database
from app.repositories.profile_repo import ProfileRepository
from app.repositories.question_repo import QuestionRepository
from app.repositories.study_repo import StudyRepository
from app.services.credit_service import zone_of

# Mastery is a moving average of recent results: each answer moves it this far toward 1 or 0.
MASTERY_STEP = Decimal("0.2")


def next_progress(current: dict[str, Any] | None, *, correct: bool, today: date) -> dict[str, Any]:
    """Counts, mastery (a moving average of results, 0-1) and the streak of consecutive days."""
    practiced = (current or {}).get("total_practiced", 0) + 1
    right = (current or {}).get("total_correct", 0) + (1 if correct else 0)
    mastery = Decimal(str((current or {}).get("mastery_level", 0)))
    target = Decimal(1 if correct else 0)
    mastery = (mastery + MASTERY_STEP * (target - mastery)).quantize(Decimal("0.01"))
    last_day = (current or {}).get("last_practice_date")
    streak = (current or {}).get("streak_days", 0)
    if last_day == today:
        streak = max(streak, 1)
    elif last_day == today - timedelta(days=1):
        streak += 1
    else:
        streak = 1
    return {
        "total_practiced": practiced,
        "total_correct": right,
        "mastery_level": mastery,
        "streak_days": streak,
        "practice_date": today,
    }


class QuestionBankService:
    def __init__(
        self,
        *,
        db: Database,
        questions: QuestionRepository,
        study: StudyRepository,
        profiles: ProfileRepository,
    ):
        self.db = db
        self.questions = questions
        self.study = study
        self.profiles = profiles

    def list_questions(self, filters: QuestionFilters) -> QuestionPage:
        with self.db.connection() as conn:
            after = None
            if filters.after:
                last = self.questions.get_by_code(conn, filters.after)
                if last is None:
                    raise NotFound("La página pedida ya no existe; vuelve a empezar la lista.")
                after = (last["exam_probability"], last["code"])
            rows = self.questions.search(
                conn,
                subject=filters.subject,
                topic=filters.topic,
                difficulty=filters.difficulty,
                tag=filters.tag,
                text=filters.q,
                after=after,
                limit=filters.limit + 1,
            )
        page, more = rows[: filters.limit], len(rows) > filters.limit
        return QuestionPage(
            items=[question_out(row) for row in page],
            next_after=page[-1]["code"] if more else None,
        )

    def get_question(self, id_or_code: str) -> QuestionOut:
        with self.db.connection() as conn:
            row = self._find(conn, id_or_code)
        return question_out(row)

    def answer(self, *, user_id: str, id_or_code: str, attempt: AttemptIn) -> AttemptResult:
        """Check a multiple-choice answer and record it: question statistics, the student's
        progress in the subject, and the study session it belongs to."""
        with self.db.transaction() as conn:
            question = self._find(conn, id_or_code)
            if attempt.answer not in question["options"]:
                raise InvalidInput(
                    "Esa opción no existe en esta pregunta.",
                    details=[{"field": "answer", "message": "not one of the options"}],
                )
            session_id = self._session_for(conn, user_id, attempt.study_session_id)
            correct = attempt.answer == question["correct_answer"]
            self.questions.record_attempt(conn, question["id"], correct=correct)
            profile = self.profiles.get(conn, user_id)
            today = datetime.now(UTC).astimezone(zone_of(profile or {})).date()
            self.study.ensure_progress(conn, user_id, question["subject"])
            current = self.study.progress(conn, user_id, question["subject"], for_update=True)
            progress = self.study.save_progress(
                conn,
                user_id,
                question["subject"],
                **next_progress(current, correct=correct, today=today),
            )
            if session_id:
                self.study.count_answer(conn, session_id, correct=correct)
        return AttemptResult(
            correct=correct,
            correct_answer=question["correct_answer"],
            explanation=question["explanation"],
            progress=SubjectProgress.model_validate(
                {**progress, "mastery_level": float(progress["mastery_level"])}
            ),
            study_session_id=session_id,
        )

    def _find(self, conn, id_or_code: str) -> dict[str, Any]:
        try:
            row = self.questions.get_by_id(conn, str(uuid.UUID(id_or_code)))
        except ValueError:
            row = self.questions.get_by_code(conn, id_or_code)
        if row is None:
            raise NotFound("No encontramos esa pregunta.")
        return row

    def _session_for(self, conn, user_id: str, session_id: str | None) -> str | None:
        if session_id is None:
            active = self.study.active_session(conn, user_id)
            return str(active["id"]) if active else None
        session = self.study.get_session(conn, session_id, user_id=user_id)
        if session is None or session["status"] != "active":
            raise NotFound("No encontramos esa sesión de estudio activa.")
        return session_id
