"""Feedback after a lesson: the student's rating of one interaction and the answer's votes."""

from __future__ import annotations

from app.errors import NotFound
from app.models.ask import FeedbackIn, FeedbackResult
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.base import Database
from app.repositories.interaction_repo import InteractionRepository


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
    ):
        self.db = db
        self.interactions = interactions
        self.answers = answers

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
