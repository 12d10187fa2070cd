"""The seed content: the exam bank and the precomputed lessons a fresh installation starts with,
kept as JSON under `seed/` (questions by subject, answer documents by subject), checked by the
same models as any import and loaded idempotently (upserts by code and by question hash)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from app.errors import InvalidInput
from app.models.questions import BankQuestionIn
from app.repositories.base import Database
from app.repositories.question_repo import QuestionRepository
from app.services.answer_service import AnswerService, validate_documents

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedReport:
    questions: int
    answers: int


class SeedService:
    def __init__(
        self, *, db: Database, questions: QuestionRepository, answers: AnswerService, root: Path
    ):
        self.db = db
        self.questions = questions
        self.answers = answers
        self.root = root

    def read_questions(self) -> list[BankQuestionIn]:
        checked = []
        for path in sorted((self.root / "questions").glob("*.json")):
            for index, entry in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                try:
                    checked.append(BankQuestionIn.model_validate(entry))
                except ValidationError as exc:
                    raise InvalidInput(f"{path.name}[{index}]: {exc.errors()[0]['msg']}") from exc
        codes = [question.code for question in checked]
        if len(set(codes)) != len(codes):
            raise InvalidInput("the same question code appears twice in the seed content")
        return checked

    def read_answers(self) -> list[dict]:
        return [
            entry
            for path in sorted((self.root / "answers").glob("*.json"))
            for entry in json.loads(path.read_text(encoding="utf-8"))
        ]

    def load(self) -> SeedReport:
        """Upsert the bank questions and import the lessons (all checked before any write)."""
        questions = self.read_questions()
        answers = self.read_answers()
        documents = validate_documents(answers) if answers else []
        with self.db.transaction() as conn:
            for question in questions:
                self.questions.upsert(conn, question.model_dump())
        report = self.answers.import_documents(documents) if documents else None
        log.info("seed content: %d questions, %d answers", len(questions), len(answers))
        return SeedReport(
            questions=len(questions), answers=report.created + report.updated if report else 0
        )
