"""Precomputed answers: import and export of answer documents (ARCHITECTURE.md section 6)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.errors import InvalidInput, NotFound, ServiceUnavailable
from app.models.answer import AnswerDocument
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.base import Database
from app.repositories.question_repo import QuestionRepository
from app.repositories.session_repo import SessionRepository
from app.repositories.step_feedback_repo import StepFeedbackRepository
from app.utils.canvas_commands import prepare_steps
from app.utils.text_processing import generate_hash, normalize_text

if TYPE_CHECKING:
    from app.utils.board_render import Rendered

HASH = re.compile(r"^[0-9a-fA-F]{64}$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerToWrite:
    """A bank question whose explanation the AI should write (or write again)."""

    code: str
    question: str
    question_hash: str
    bank_question: dict[str, Any]
    reason: str  # "missing", "stale" (an older prompt wrote it) or "asked" (named by code)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    hashes: list[str] = field(default_factory=list)


def _label(index: int, entry: Any) -> str:
    question = entry.get("question") if isinstance(entry, dict) else None
    if isinstance(question, str) and question.strip():
        short = question.strip()
        short = short if len(short) <= 60 else short[:57] + "..."
        return f"entry {index} ({short!r})"
    return f"entry {index}"


def validate_documents(entries: Any) -> list[AnswerDocument]:
    """Validate every entry; raise InvalidInput listing each problem by entry and field."""
    if not isinstance(entries, list):
        raise InvalidInput("El archivo debe contener una lista JSON de respuestas.")
    if not entries:
        raise InvalidInput("El archivo no contiene respuestas.")
    problems: list[str] = []
    documents: list[AnswerDocument] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            document = AnswerDocument.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(entry)"
                problems.append(f"{_label(index, entry)}: {where}: {error['msg']}")
            continue
        question_hash = generate_hash(document.question)
        if question_hash in seen:
            problems.append(
                f"{_label(index, entry)}: question: same normalized question as entry "
                f"{seen[question_hash]}"
            )
            continue
        seen[question_hash] = index
        documents.append(document)
    if problems:
        raise InvalidInput(
            f"{len(problems)} problema(s) en el archivo; no se importó nada.", details=problems
        )
    return documents


class AnswerService:
    def __init__(
        self,
        *,
        db: Database,
        answers: AiAnswersRepository,
        sessions: SessionRepository,
        step_feedback: StepFeedbackRepository,
        bank: QuestionRepository,
    ):
        self.db = db
        self.answers = answers
        self.sessions = sessions
        self.step_feedback = step_feedback
        self.bank = bank

    def bank_answers_to_write(
        self,
        *,
        prompt_version: str,
        subject: str | None = None,
        codes: list[str] | None = None,
        stale: bool = False,
        limit: int | None = None,
    ) -> list[AnswerToWrite]:
        """Bank questions without an answer; with `stale`, also those answered by an older
        prompt (manual answers are never replaced); questions named by `codes` always."""
        with self.db.connection() as conn:
            rows = self.bank.list_for_answers(conn, subject=subject, codes=codes or None)
            if codes:
                missing = sorted(set(codes) - {row["code"] for row in rows})
                if missing:
                    raise NotFound("No hay preguntas del banco con esos códigos.", details=missing)
            hashes = {row["code"]: generate_hash(row["question"]) for row in rows}
            origins = self.answers.origins(conn, list(hashes.values()))
        todo: list[AnswerToWrite] = []
        for row in rows:
            origin = origins.get(hashes[row["code"]])
            if codes:
                reason = "asked"
            elif origin is None:
                reason = "missing"
            elif (
                stale
                and origin["generated_by"] != "manual"
                and origin["prompt_version"] != prompt_version
            ):
                reason = "stale"
            else:
                continue
            todo.append(
                AnswerToWrite(
                    code=row["code"],
                    question=row["question"],
                    question_hash=hashes[row["code"]],
                    bank_question={
                        "question_text": row["question"],
                        "options": row.get("options") or [],
                        "correct_answer": row.get("correct_answer"),
                    },
                    reason=reason,
                )
            )
            if limit is not None and len(todo) >= limit:
                break
        return todo

    def import_answers(self, entries: Any) -> ImportReport:
        """All or nothing: every entry is validated before the first write, and all rows are
        upserted in one transaction."""
        return self.import_documents(validate_documents(entries))

    def import_documents(self, documents: list[AnswerDocument]) -> ImportReport:
        """Upsert documents already validated (`validate_documents`), in one transaction."""
        hashes = [generate_hash(document.question) for document in documents]
        # Evict before writing too: if Redis is down the import stops here with nothing written,
        # instead of leaving a cached copy of the old lesson streaming for up to a day.
        for question_hash in hashes:
            self.sessions.evict_answer(question_hash)
        report = ImportReport()
        with self.db.transaction() as conn:
            for document, question_hash in zip(documents, hashes, strict=True):
                normalized = normalize_text(document.question)
                before = self.answers.get_by_hash(conn, question_hash)
                row, created = self.answers.upsert(
                    conn,
                    question_hash=question_hash,
                    question_text=document.question,
                    normalized_question=normalized,
                    answer_steps=document.steps_json(),
                    total_duration=document.total_duration or 1,
                    subject=document.subject,
                    generated_by=document.generated_by,
                )
                if before is not None and before["answer_steps"] != row["answer_steps"]:
                    # Rewritten steps: "no entendí" on the old ones no longer applies.
                    self.step_feedback.forget_answer(conn, str(row["id"]))
                report.created += created
                report.updated += not created
                report.hashes.append(question_hash)
        # Again after commit: a lesson cached from the old row in between must not survive.
        for question_hash in report.hashes:
            try:
                self.sessions.evict_answer(question_hash)
            except ServiceUnavailable:
                log.warning(
                    "answer %s imported but its cached copy could not be evicted", question_hash
                )
        log.info("imported answers: %d created, %d updated", report.created, report.updated)
        return report

    def preview(self, key: str) -> list[Rendered]:
        # (matplotlib loads only here: the server never pays for it.)
        from app.utils.board_render import render_board

        """The board after each step of a stored answer, rendered (for authors and reviewers).
        `key` is the answer's question hash or the code of a bank question (2024Algebra14)."""
        with self.db.connection() as conn:
            question_hash = key.lower() if HASH.match(key) else None
            if question_hash is None:
                question = self.bank.get_by_code(conn, key)
                if question is None:
                    raise NotFound(f"No bank question has the code {key!r}.")
                question_hash = generate_hash(question["question"])
            row = self.answers.get_by_hash(conn, question_hash)
        if row is None:
            raise NotFound(f"No stored answer for {key!r}.")
        board: list[dict[str, Any]] = []
        rendered = []
        for step in prepare_steps(row["answer_steps"]):
            board.extend(step["canvas"])
            rendered.append(render_board(board))
        return rendered

    def needing_review(self) -> list[dict[str, Any]]:
        """Answers marked for review, oldest mark first."""
        with self.db.connection() as conn:
            rows = self.answers.list_needing_review(conn)
        return [
            {
                "question_hash": row["question_hash"],
                "question": row["question_text"],
                "reason": row["review_reason"],
                "flagged_at": row["flagged_at"].isoformat() if row["flagged_at"] else None,
                "helpful_votes": row["helpful_votes"],
                "total_votes": row["total_votes"],
                "usage_count": row["usage_count"],
            }
            for row in rows
        ]

    def clear_review(self, question_hash: str) -> None:
        with self.db.transaction() as conn:
            if not self.answers.clear_review(conn, question_hash):
                raise NotFound("No stored answer has that hash.")

    def export_answers(self) -> list[dict[str, Any]]:
        """Every stored answer in the import format, so export then import is a round trip."""
        with self.db.connection() as conn:
            rows = self.answers.list_all(conn)
        return [
            {
                "question": row["question_text"],
                "subject": row["subject"],
                "total_duration": row["total_duration"],
                "generated_by": row["generated_by"],
                "steps": row["answer_steps"],
            }
            for row in rows
        ]

    def get_answer(self, question: str) -> dict[str, Any] | None:
        with self.db.connection() as conn:
            return self.answers.get_by_hash(conn, generate_hash(question))
