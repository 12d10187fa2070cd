"""The question pipeline (the seed's QuestionService): validate, rate-limit, normalize and hash,
find the stored answer (Redis cache, then PostgreSQL), charge the student and record the
interaction. The live lesson over Socket.IO and POST /questions/ask both come through here.

A question with no stored answer is written by the AI service while the student waits
(`GenerationService`): the lesson starts as soon as its first step is written. When it cannot
be written the student gets AI_UNAVAILABLE, with similar questions that do have answers, and
nothing is charged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from app.auth.verifier import Principal
from app.errors import (
    AiUnavailable,
    AppError,
    InvalidInput,
    NotFound,
    RateLimitExceeded,
    ServiceUnavailable,
    Unauthorized,
)
from app.metrics import QUESTIONS
from app.models.ask import AnswerDocumentOut, AskRequest, AskResult, SimilarQuestion
from app.models.generation import MAX_GENERATED_STEPS
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.base import Database
from app.repositories.canvas_library_repo import CanvasLibraryRepository
from app.repositories.interaction_repo import InteractionRepository
from app.repositories.pending_charge_repo import PendingChargeRepository
from app.repositories.question_repo import QuestionRepository
from app.repositories.session_repo import SessionRepository
from app.services.account_service import AccountService
from app.services.ai_service import GenerationRequest
from app.services.credit_service import CreditService, InsufficientCredits
from app.services.generation_service import GenerationService, public_step
from app.utils.canvas_commands import PREPARED_FORMAT, prepare_steps, templates_used
from app.utils.math_guard import NEAR_DUPLICATE_THRESHOLD, same_math
from app.utils.text_processing import follow_up_hash, generate_hash, normalize_text

log = logging.getLogger(__name__)

SIMILARITY_THRESHOLD = 0.45
MAX_SIMILAR = 3
FOLLOW_UP_MAX_TOKENS = 600  # a follow-up's answer: one short step
NEAR_CANDIDATES = 10  # the closest text is often the near miss (x^3 for x^2): look further


@dataclass(frozen=True)
class StoredAnswer:
    answer_id: str
    question_hash: str
    question: str
    total_duration: int
    steps: list[dict[str, Any]]
    source: str  # "cache", "database", "near" (a rephrasing's answer) or "generated"
    templates: list[str] = field(default_factory=list)  # canvas library drawings it uses
    # Being written now: the generation's key, whose draft holds the steps still to come.
    draft: str | None = None
    total_steps: int | None = None  # announced; for a draft, the model's plan
    # Who asked, as a follower of the draft until their lesson follows it instead.
    watcher: str | None = None


@dataclass(frozen=True)
class ChargedAnswer:
    answer: StoredAnswer
    interaction_id: str
    # None for a charge taken while PostgreSQL was unavailable (written later: `later`).
    credits_remaining: int | None
    daily_remaining: int | None
    usage_id: str | None  # the spend, to refund if the lesson cannot be given after all
    later: bool = False


# A student's lessons from the answer cache while PostgreSQL is unavailable, charged once it is
# back, per day (PendingChargeRepository): an outage is not an open tap.
PENDING_ALLOWANCE = 3


class QuestionService:
    def __init__(
        self,
        *,
        db: Database,
        answers: AiAnswersRepository,
        interactions: InteractionRepository,
        bank: QuestionRepository,
        sessions: SessionRepository,
        canvas: CanvasLibraryRepository,
        accounts: AccountService,
        credits: CreditService,
        rate_limit: int,
        rate_window: int,
        max_question_length: int,
        generation: GenerationService | None = None,
        pending: PendingChargeRepository | None = None,
        pending_allowance: int = PENDING_ALLOWANCE,
    ):
        self.db = db
        self.pending = pending
        self.pending_allowance = pending_allowance
        self.answers = answers
        self.interactions = interactions
        self.bank = bank
        self.canvas = canvas
        self.sessions = sessions
        self.accounts = accounts
        self.credits = credits
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.max_question_length = max_question_length
        self.generation = generation

    def check_question(self, question: str) -> None:
        if len(question) > self.max_question_length:
            raise InvalidInput(
                f"La pregunta es demasiado larga (máximo {self.max_question_length} caracteres).",
                details=[{"field": "question", "message": "too long"}],
            )

    def check_rate_limit(self, user_id: str) -> None:
        count, seconds_left = self.sessions.count_question(user_id, self.rate_window)
        if count > self.rate_limit:
            raise RateLimitExceeded(retry_after=max(1, seconds_left))

    def find_answer(
        self, question_hash: str, *, on_miss_in_cache: Callable[[], None] | None = None
    ) -> StoredAnswer | None:
        """The stored answer for a hash: Redis first (24 h), then PostgreSQL (filling Redis).
        `on_miss_in_cache` runs before the slower lookup (the lesson shows a waiting phrase)."""
        cached = self.sessions.get_cached_answer(question_hash)
        if cached and cached.get("answer_id") and cached.get("format") == PREPARED_FORMAT:
            return StoredAnswer(
                answer_id=cached["answer_id"],
                question_hash=question_hash,
                question=cached.get("question", ""),
                total_duration=cached["total_duration"],
                steps=cached["steps"],
                source="cache",
                templates=cached.get("templates", []),
            )
        if on_miss_in_cache is not None:
            on_miss_in_cache()
        with self.db.connection() as conn:
            row = self.answers.get_by_hash(conn, question_hash)
        if row is None:
            return None
        # Drawings are prepared once per cache fill (plots sampled, axes ticked), not per lesson.
        steps = prepare_steps(row["answer_steps"])
        templates = templates_used(row["answer_steps"])
        self.sessions.cache_answer(
            question_hash,
            steps,
            row["total_duration"],
            answer_id=str(row["id"]),
            question=row["question_text"],
            format=PREPARED_FORMAT,
            templates=templates,
        )
        return StoredAnswer(
            answer_id=str(row["id"]),
            question_hash=question_hash,
            question=row["question_text"],
            total_duration=row["total_duration"],
            steps=steps,
            source="database",
            templates=templates,
        )

    def near_duplicate(self, question: str) -> StoredAnswer | None:
        """The stored answer of the same question phrased differently: close in trigrams and
        the same mathematics (numbers, variables, exponents, operators, functions) and the same
        content words, so `derivada de x^2` never gets the answer of `derivada de x^3`."""
        normalized = normalize_text(question)
        with self.db.transaction() as conn:
            candidates = self.answers.find_similar(
                conn, normalized, threshold=NEAR_DUPLICATE_THRESHOLD, limit=NEAR_CANDIDATES
            )
        for candidate in candidates:
            if same_math(normalized, candidate["normalized_question"]):
                stored = self.find_answer(candidate["question_hash"])
                if stored is not None:
                    log.info("near duplicate reused (similarity %.2f)", candidate["similarity"])
                    return replace(stored, source="near")
        return None

    def similar_questions(self, question: str) -> list[SimilarQuestion]:
        with self.db.transaction() as conn:
            rows = self.answers.find_similar(
                conn, normalize_text(question), threshold=SIMILARITY_THRESHOLD, limit=MAX_SIMILAR
            )
        return [
            SimilarQuestion(
                question=row["question_text"],
                question_hash=row["question_hash"],
                similarity=round(float(row["similarity"]), 3),
            )
            for row in rows
        ]

    def ask(
        self, principal: Principal, request: AskRequest, *, session_id: str | None = None
    ) -> AskResult:
        """The whole answer at once: charged only when there is an answer to give."""
        charged = self.answer_and_charge(principal, request, session_id=session_id, completed=True)
        assert charged.credits_remaining is not None and charged.daily_remaining is not None
        self.count_use(charged.answer)
        stored = charged.answer
        if stored.draft is not None:
            stored = self._whole(principal, charged)
        return AskResult(
            interaction_id=charged.interaction_id,
            answer_id=stored.answer_id,
            question_hash=stored.question_hash,
            source=stored.source,  # type: ignore[arg-type]
            answer=AnswerDocumentOut(
                question=stored.question or request.question,
                total_duration=stored.total_duration,
                steps=stored.steps,
            ),
            credits_remaining=charged.credits_remaining,
            daily_remaining=charged.daily_remaining,
        )

    def answer_and_charge(
        self,
        principal: Principal,
        request: AskRequest,
        *,
        session_id: str | None,
        completed: bool,
        on_lookup: Callable[[], None] | None = None,
        on_generate: Callable[[], None] | None = None,
        follow_up_of: dict[str, Any] | None = None,
    ) -> ChargedAnswer:
        """The pipeline up to the lesson: validate, rate-limit, find the stored answer, charge
        one credit and record the interaction (completed later for a streamed lesson).

        `follow_up_of` is the step a follow-up question interrupts: when the AI is there, the
        doubt gets a short answer about that step (kept for the next student with the same
        doubt on the same step), not a whole lesson."""
        started = time.monotonic()
        self.check_question(request.question)
        self.check_rate_limit(principal.user_id)
        stored = None
        if follow_up_of is not None and self.generation is not None and self.generation.available:
            stored = self._follow_up_answer(
                principal, request, follow_up_of, on_lookup, on_generate
            )
        question_hash = stored.question_hash if stored else generate_hash(request.question)
        if stored is None:
            stored = self.find_answer(question_hash, on_miss_in_cache=on_lookup)
        if stored is None:
            stored = self.near_duplicate(request.question)
        if stored is None:
            stored = self._generate(principal, request, question_hash, on_generate)
        try:
            with self.db.transaction() as conn:
                if request.question_id and self.bank.get_by_id(conn, request.question_id) is None:
                    raise NotFound("No encontramos esa pregunta del banco.")
                # The interaction first, so the spend names it (nothing is kept if the spend fails).
                interaction_id = self.interactions.insert(
                    conn,
                    user_id=principal.user_id,
                    session_id=session_id,
                    question_text=request.question,
                    question_type=request.question_type,
                    # An answer being written has no row yet: it is named when the lesson ends.
                    answer_id=None if stored.draft else stored.answer_id,
                    question_id=request.question_id,
                    response_time_ms=int((time.monotonic() - started) * 1000),
                    credits_used=1,
                    completed=completed,
                )
                if interaction_id is None:
                    raise Unauthorized("Tu cuenta ya no existe.")
                receipt = self.credits.consume_in(
                    conn,
                    user_id=principal.user_id,
                    interaction_id=interaction_id,
                    details={"question_hash": question_hash, "source": stored.source},
                    provision=lambda: self.accounts.ensure_profile(conn, principal),
                )
        except ServiceUnavailable:
            if completed or stored.source != "cache" or self.pending is None:
                self.stop_following(stored)
                raise
            # A lesson from the answer cache goes on while PostgreSQL is away: charged later.
            return self._charge_later(principal, request, stored, session_id, started)
        except AppError:
            self.stop_following(stored)  # (the answer goes on being written for the others)
            raise
        finally:
            if stored.source == "generated" and self.generation is not None:
                # (Counted against the asker's spends until now: charged now, or never.)
                self.generation.release_spend(principal.user_id)
        QUESTIONS.labels(stored.source).inc()
        return ChargedAnswer(
            answer=stored,
            interaction_id=interaction_id,
            credits_remaining=receipt.credits_remaining,
            daily_remaining=receipt.daily_remaining,
            usage_id=receipt.usage_id,
        )

    def _charge_later(
        self,
        principal: Principal,
        request: AskRequest,
        stored: StoredAnswer,
        session_id: str | None,
        started: float,
    ) -> ChargedAnswer:
        """Keep the interaction and its charge in Redis until PostgreSQL is back (the lesson
        streams from the answer cache meanwhile); the outage error stands when the student has
        used their allowance of such lessons, or Redis fails too."""
        assert self.pending is not None
        interaction_id = str(uuid.uuid4())
        record = {
            "interaction_id": interaction_id,
            "user_id": principal.user_id,
            "email": principal.email,
            "full_name": principal.full_name,
            "session_id": session_id,
            "question_text": request.question,
            "question_type": request.question_type,
            "question_id": request.question_id,
            "question_hash": stored.question_hash,
            "answer_id": stored.answer_id,
            "response_time_ms": int((time.monotonic() - started) * 1000),
            "asked_at": datetime.now(UTC).isoformat(),
            "completed": False,
        }
        if not self.pending.add(record, allowance=self.pending_allowance):
            raise ServiceUnavailable()
        log.warning("PostgreSQL unavailable: %s charged later (a cached lesson)", interaction_id)
        QUESTIONS.labels(stored.source).inc()
        return ChargedAnswer(
            answer=stored,
            interaction_id=interaction_id,
            credits_remaining=None,
            daily_remaining=None,
            usage_id=None,
            later=True,
        )

    def flush_pending(self) -> int:
        """Write the interactions and charges kept while PostgreSQL was unavailable, each once
        (a record written twice changes nothing); how many were written. Stops at the first
        store failure, to go on at the next call."""
        if self.pending is None or not self.pending.count():
            return 0
        written = 0
        for interaction_id, raw in self.pending.all().items():
            try:
                record = json.loads(raw)
            except ValueError:
                log.error("unreadable charge kept for later: %s", interaction_id)
                self.pending.remove_if_unchanged(interaction_id, raw)
                continue
            try:
                self._write_pending(record)
            except ServiceUnavailable:
                return written
            self.pending.remove_if_unchanged(interaction_id, raw)
            written += 1
        if written:
            log.info("%d lessons given while PostgreSQL was unavailable are now recorded", written)
        return written

    def _write_pending(self, record: dict[str, Any]) -> None:
        principal = Principal(
            user_id=record["user_id"],
            email=record.get("email"),
            session_id=None,
            is_anonymous=False,
            expires_at=0,
            claims={"user_metadata": {"full_name": record.get("full_name")}},
        )
        with self.db.transaction() as conn:
            if self.interactions.insert_pending(conn, record):
                charged = self.credits.consume_late_in(
                    conn,
                    user_id=record["user_id"],
                    interaction_id=record["interaction_id"],
                    details={
                        "question_hash": record.get("question_hash"),
                        "source": "cache",
                        "charged_late": True,
                    },
                    provision=lambda: self.accounts.ensure_profile(conn, principal),
                )
                if not charged:
                    self.interactions.set_credits_used(conn, record["interaction_id"], 0)
                self.answers.increment_usage(conn, record["answer_id"])  # (see count_use)
            elif record.get("completed"):  # (written before; completed since)
                self.interactions.mark_completed(conn, record["interaction_id"])

    def count_use(self, stored: StoredAnswer) -> None:
        """A statistic of a charged answer (and of the drawings it borrows), counted once the
        student has it and outside the charge's transaction: every student asking the same
        question would otherwise wait on this row's lock until the others commit. Its failure
        only loses the count."""
        if stored.draft is not None:
            return  # (counted when the answer being written is stored: mark_completed)
        try:
            with self.db.connection() as conn:
                self.answers.increment_usage(conn, stored.answer_id)
                if stored.templates:
                    self.canvas.count_uses(conn, stored.templates)
        except AppError as exc:
            log.warning("use of answer %s not counted: %s", stored.answer_id, exc)

    def refund(self, user_id: str, charged: ChargedAnswer, reason: str) -> None:
        """Give back a question's charge when its lesson could not be given after all: the
        student does not pay for what they never got. A refund that fails is logged."""
        try:
            if charged.later and self.pending is not None:
                if not self.pending.remove(charged.interaction_id):  # (written meanwhile)
                    self.credits.refund_interaction(charged.interaction_id, reason)
            elif charged.usage_id is not None:
                self.credits.refund(user_id=user_id, usage_id=charged.usage_id, reason=reason)
        except AppError as exc:
            log.error("refund of interaction %s failed: %s", charged.interaction_id, exc)
        self.stop_following(charged.answer)

    def stop_following(self, stored: StoredAnswer) -> None:
        """The asker no longer waits for the answer being written (a lesson that follows it
        registered itself, or none will)."""
        if stored.draft and stored.watcher and self.generation is not None:
            with contextlib.suppress(AppError):
                self.generation.leave(stored.draft, stored.watcher)

    def mark_completed(self, interaction_id: str, answer_id: str | None = None) -> None:
        """The lesson was seen to its end. An answer written during it is stored by now: the
        interaction names it and its use is counted."""
        if self.pending is not None and self.pending.mark_completed(interaction_id, answer_id):
            return  # (given while PostgreSQL was unavailable: recorded with its charge)
        with self.db.transaction() as conn:
            named = self.interactions.mark_completed(conn, interaction_id, answer_id)
            if named and answer_id:
                self.answers.increment_usage(conn, answer_id)

    def refund_interaction(self, interaction_id: str, reason: str) -> None:
        try:
            if self.pending is not None and self.pending.remove(interaction_id):
                return  # (a charge kept for later: forgotten, never taken)
            self.credits.refund_interaction(interaction_id, reason)
        except AppError as exc:
            log.error("refund of interaction %s failed: %s", interaction_id, exc)

    # -- answers written now ----------------------------------------------------------------
    def _generate(
        self,
        principal: Principal,
        request: AskRequest,
        question_hash: str,
        on_generate: Callable[[], None] | None,
        follow_up_of: dict[str, Any] | None = None,
    ) -> StoredAnswer:
        """No stored answer: have one written, and return as soon as its first step is."""
        try:
            if self.generation is None or not self.generation.available:
                raise AiUnavailable(details={"reason": "not_configured"})
            # The model is paid for before the student is charged: not for one who cannot pay,
            # nor for more questions at once (two tabs) than they can pay for.
            allowed = self.credits.check_can_spend(principal.user_id)
            generation_request = self._generation_request(principal, request, follow_up_of)
            if not self.generation.reserve_spend(principal.user_id, allowed=allowed):
                raise InsufficientCredits(
                    "Ya tienes otra pregunta en curso que usará tus últimos créditos."
                )
            watcher = f"ask:{uuid.uuid4()}"
            try:
                draft = self.generation.begin(
                    question=request.question,
                    question_hash=question_hash,
                    request=generation_request,
                    watcher=watcher,
                    on_wait=on_generate,
                )
            except AppError:
                self.generation.release_spend(principal.user_id)
                raise
        except AiUnavailable as exc:
            similar = self.similar_questions(request.question)
            exc.details = {**(exc.details or {}), "similar": [s.model_dump() for s in similar]}
            raise
        steps = draft.steps
        return StoredAnswer(
            answer_id=draft.answer_id,
            question_hash=question_hash,
            question=request.question,
            # Announced from the steps written so far, scaled to the plan.
            total_duration=max(
                1,
                sum(int(step.get("duration", 15)) for step in steps)
                * max(draft.total_steps, len(steps))
                // max(1, len(steps)),
            ),
            steps=steps,
            source="generated",
            draft=None if draft.done else draft.key,
            total_steps=draft.total_steps,
            watcher=None if draft.done else watcher,
        )

    def _follow_up_answer(
        self,
        principal: Principal,
        request: AskRequest,
        step: dict[str, Any],
        on_lookup: Callable[[], None] | None,
        on_generate: Callable[[], None] | None,
    ) -> StoredAnswer | None:
        """A doubt about the step in view: its short answer, stored or written now; None when
        it cannot be written now (then the question's own answer is looked for)."""
        question_hash = follow_up_hash(step["question_hash"], step["step_number"], request.question)
        stored = self.find_answer(question_hash, on_miss_in_cache=on_lookup)
        if stored is not None:
            return stored
        try:
            return self._generate(principal, request, question_hash, on_generate, step)
        except AiUnavailable:
            return None

    def _generation_request(
        self,
        principal: Principal,
        request: AskRequest,
        follow_up_of: dict[str, Any] | None = None,
    ) -> GenerationRequest:
        with self.db.connection() as conn:
            profile = self.accounts.profiles.get(conn, principal.user_id)
            bank = self.bank.get_by_id(conn, request.question_id) if request.question_id else None
        if request.question_id and bank is None:
            # Checked before the model is paid, not only when the student is charged.
            raise NotFound("No encontramos esa pregunta del banco.")
        return GenerationRequest(
            question=request.question,
            follow_up_of=follow_up_of,
            max_steps=1 if follow_up_of else MAX_GENERATED_STEPS,
            max_tokens=FOLLOW_UP_MAX_TOKENS if follow_up_of else None,
            learning_level=(profile or {}).get("learning_level"),
            bank_question=(
                {
                    "question_text": bank["question"],
                    "options": bank.get("options") or [],
                    "correct_answer": bank.get("correct_answer"),
                }
                if bank
                else None
            ),
        )

    def _whole(self, principal: Principal, charged: ChargedAnswer) -> StoredAnswer:
        """Wait for the rest of an answer being written (the HTTP ask returns it whole)."""
        stored = charged.answer
        assert self.generation is not None and stored.draft is not None
        steps = list(stored.steps)
        try:
            while True:
                step = self.generation.wait_step(stored.draft, len(steps))
                if not isinstance(step, dict):
                    break
                steps.append(public_step(step))
        except AppError:
            self.refund(principal.user_id, charged, "the answer could not be written")
            raise
        self.stop_following(stored)
        answer_id = self.generation.answer_id(stored.draft) or stored.answer_id
        self.mark_completed(charged.interaction_id, answer_id)
        return StoredAnswer(
            answer_id=answer_id,
            question_hash=stored.question_hash,
            question=stored.question,
            total_duration=sum(int(step.get("duration", 15)) for step in steps),
            steps=steps,
            source="generated",
        )
