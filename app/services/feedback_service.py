"""Feedback on lessons: the student's rating of one interaction, the answer's votes, "no entendí"
on one step, and marking answers for review when students do not understand them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.errors import InvalidInput, NotFound
from app.models.ask import FeedbackIn, FeedbackResult
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.base import Database, DbConnection
from app.repositories.interaction_repo import InteractionRepository
from app.repositories.step_feedback_repo import StepFeedbackRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewRules:
    """When an answer is marked for review (see Settings.review_*)."""

    step_confusions: int = 5
    step_ratio: float = 0.25
    min_votes: int = 10
    min_helpful_ratio: float = 0.5


def is_helpful(rating: int | None, understood: bool | None) -> bool:
    if understood is not None:
        return understood
    return rating is not None and rating >= 4


class FeedbackService:
    def __init__(
        self,
        *,
        db: Database,
        interactions: InteractionRepository,
        answers: AiAnswersRepository,
        steps: StepFeedbackRepository,
        rules: ReviewRules,
    ):
        self.db = db
        self.interactions = interactions
        self.answers = answers
        self.steps = steps
        self.rules = rules

    def give(self, *, user_id: str, answer_id: str, feedback: FeedbackIn) -> FeedbackResult:
        """Record feedback on the student's own interaction with the answer. The answer's vote
        is counted once per interaction; later changes update the interaction only."""
        with self.db.transaction() as conn:
            interaction = self.interactions.find_for_feedback(
                conn, user_id=user_id, answer_id=answer_id, interaction_id=feedback.interaction_id
            )
            if interaction is None:
                raise NotFound("No encontramos esa explicación en tu historial.")
            first_feedback = interaction["rating"] is None and interaction["understood"] is None
            rating = feedback.rating if feedback.rating is not None else interaction["rating"]
            understood = (
                feedback.understood
                if feedback.understood is not None
                else interaction["understood"]
            )
            seen = (
                feedback.seen_in_exam
                if feedback.seen_in_exam is not None
                else interaction["seen_in_exam"]
            )
            updated = self.interactions.save_feedback(
                conn,
                str(interaction["id"]),
                rating=rating,
                understood=understood,
                seen_in_exam=seen,
            )
            if first_feedback and (rating is not None or understood is not None):
                votes = self.answers.record_vote(
                    conn, answer_id, helpful=is_helpful(rating, understood)
                )
                if votes is not None:
                    self._review_votes(conn, answer_id, votes)
            else:
                row = self.answers.get_by_id(conn, answer_id)
                votes = (
                    {"helpful_votes": row["helpful_votes"], "total_votes": row["total_votes"]}
                    if row
                    else {"helpful_votes": 0, "total_votes": 0}
                )
        assert votes is not None
        return FeedbackResult(
            interaction_id=str(updated["id"]),
            rating=updated["rating"],
            understood=updated["understood"],
            seen_in_exam=bool(updated["seen_in_exam"]),
            helpful_votes=votes["helpful_votes"],
            total_votes=votes["total_votes"],
        )

    def give_on_step(
        self,
        *,
        user_id: str,
        answer_id: str,
        interaction_id: str,
        step_number: int,
        understood: bool,
    ) -> None:
        """ "No entendí" (understood=False) or "ahora sí" on one step of the student's lesson;
        enough students lost on the same step mark the answer for review."""
        with self.db.transaction() as conn:
            interaction = self.interactions.find_for_feedback(
                conn, user_id=user_id, answer_id=answer_id, interaction_id=interaction_id
            )
            if interaction is None:
                raise NotFound("No encontramos esa explicación en tu historial.")
            answer = self.answers.get_by_id(conn, answer_id)
            if answer is None or not 1 <= step_number <= len(answer["answer_steps"]):
                raise InvalidInput("Esa explicación no tiene ese paso.")
            self.steps.save(
                conn,
                interaction_id=interaction_id,
                user_id=user_id,
                answer_id=answer_id,
                step_number=step_number,
                understood=understood,
            )
            if understood or answer["needs_review"]:
                return
            confused = self.steps.confused_count(conn, answer_id, step_number)
            lessons = self.answers.lesson_count(conn, answer_id)
            if (
                confused >= self.rules.step_confusions
                and confused >= self.rules.step_ratio * lessons
            ):
                self._flag(
                    conn,
                    answer_id,
                    f"step {step_number}: {confused} of {lessons} students did not understand it",
                )

    def _review_votes(self, conn: DbConnection, answer_id: str, votes: dict) -> None:
        total, helpful = votes["total_votes"], votes["helpful_votes"]
        if total >= self.rules.min_votes and helpful < self.rules.min_helpful_ratio * total:
            self._flag(conn, answer_id, f"{helpful} of {total} votes found it helpful")

    def _flag(self, conn: DbConnection, answer_id: str, reason: str) -> None:
        if self.answers.flag_for_review(conn, answer_id, reason):
            log.warning("answer %s marked for review: %s", answer_id, reason)
