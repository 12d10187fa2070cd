"""Answers written while students wait: one LLM call per new question across every process,
followed live by every student who asks it meanwhile.

The first asker of an unanswered question takes the question's lock and starts a generator
(a background greenlet) that writes each finished step into the question's draft in Redis;
every asker, that one included, waits for the first step and then streams the lesson from the
draft, step by step as it grows. When the answer is complete and valid it is stored in
PostgreSQL and the answer cache, and the draft says where; if the generation fails, the draft
says so and every lesson following it ends with an error, its charge given back. Nothing partial
is stored.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from app.errors import AiUnavailable, AppError, ContentRefused, GenerationFailed
from app.models.answer import AnswerStep
from app.repositories.ai_answers_repo import AiAnswersRepository
from app.repositories.base import Database
from app.repositories.generation_repo import GenerationRepository
from app.repositories.session_repo import SessionRepository
from app.services.ai_prompt import PROMPT_VERSION
from app.services.ai_service import (
    AIService,
    Finished,
    GenerationRequest,
    Planned,
    Refused,
    StepWritten,
)
from app.utils.canvas_commands import PREPARED_FORMAT, prepare_steps, templates_used
from app.utils.text_processing import normalize_text

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


class Runtime(Protocol):
    def spawn(self, target: Callable[..., Any], *args: Any) -> Any: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """How one generation ended (for `answers generate`)."""

    status: str  # done, failed, refused or busy (another process is writing it)
    answer_id: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    message: str | None = None


@dataclass(frozen=True)
class DraftAnswer:
    """A generation a lesson can start on: the steps written so far."""

    key: str
    answer_id: str
    steps: list[dict[str, Any]]
    total_steps: int
    done: bool


class GenerationService:
    def __init__(
        self,
        *,
        ai: AIService,
        drafts: GenerationRepository,
        db: Database,
        answers: AiAnswersRepository,
        cache: SessionRepository,
        runtime: Runtime,
        lock_lease_seconds: float = 30.0,
        first_step_timeout: float = 90.0,
        step_timeout: float = 90.0,
    ):
        self.ai = ai
        self.drafts = drafts
        self.db = db
        self.answers = answers
        self.cache = cache
        self.runtime = runtime
        self.lock_lease_seconds = lock_lease_seconds
        self.first_step_timeout = first_step_timeout
        self.step_timeout = step_timeout
        self._writing: set[str] = set()  # the drafts this process's greenlets are writing

    @property
    def available(self) -> bool:
        return self.ai.available

    # -- askers ---------------------------------------------------------------------------
    def begin(
        self,
        *,
        question: str,
        question_hash: str,
        request: GenerationRequest,
        watcher: str,
        on_wait: Callable[[], None] | None = None,
    ) -> DraftAnswer:
        """Start the question's generation, or join the one running, and wait for its first
        step. `watcher` counts the asker as following it (so a stop elsewhere does not abandon
        it) until `leave`. Raises ContentRefused (moderation, or a question outside the
        domain) or AiUnavailable."""
        key = question_hash  # one generation per question, whatever the prompt or model
        self.drafts.watch(key, watcher)
        try:
            return self._wait_first_step(key, question, question_hash, request, on_wait)
        except AppError:
            self.drafts.unwatch(key, watcher)
            raise

    def _wait_first_step(
        self,
        key: str,
        question: str,
        question_hash: str,
        request: GenerationRequest,
        on_wait: Callable[[], None] | None,
    ) -> DraftAnswer:
        draft = self._current(key)
        if draft is None or draft["status"] == "failed":
            self._start(key, question=question, question_hash=question_hash, request=request)
        if on_wait is not None:
            on_wait()
        deadline = time.monotonic() + self.first_step_timeout
        restarted = False
        while True:
            draft = self._current(key)
            if draft is None:
                if not self.drafts.is_locked(key):
                    raise AiUnavailable()  # (expired meanwhile)
            elif draft.get("crashed") and not restarted and not self.drafts.draft_steps(key):
                # Its generator died before writing a step: write it here instead (once).
                restarted = True
                self._start(key, question=question, question_hash=question_hash, request=request)
                continue
            else:
                self._raise_if_ended_badly(draft)
                steps = self.drafts.draft_steps(key)
                if steps or draft["status"] == "done":
                    return DraftAnswer(
                        key=key,
                        answer_id=draft["answer_id"],
                        steps=[public_step(step) for step in steps],
                        total_steps=max(int(draft.get("total_steps") or 0), len(steps)),
                        done=draft["status"] == "done",
                    )
            if time.monotonic() > deadline:
                raise AiUnavailable()
            self.runtime.sleep(POLL_SECONDS)

    def wait_step(
        self, key: str, index: int, *, stop: Callable[[], bool] = lambda: False
    ) -> dict[str, Any] | bool | None:
        """The step at `index` of a draft once it is written; None when the answer ended
        before it; False when `stop()` became true first. Raises GenerationFailed when the
        generation failed (after what was shown)."""
        deadline = time.monotonic() + self.step_timeout
        while True:
            steps = self.drafts.draft_steps(key, index)
            if steps:
                return public_step(steps[0])
            if stop():  # (before a failure: a stopped lesson is told nothing more)
                return False
            draft = self._current(key)
            if draft is None:
                return self._stored_step(key, index)
            if draft["status"] == "done":
                steps = self.drafts.draft_steps(key, index)
                return public_step(steps[0]) if steps else None
            if draft["status"] != "generating":
                raise GenerationFailed()
            if time.monotonic() > deadline:
                raise GenerationFailed()
            self.runtime.sleep(POLL_SECONDS)

    def written_step(self, key: str, index: int) -> dict[str, Any] | None:
        """The step at `index` if it is written by now (no waiting)."""
        steps = self.drafts.draft_steps(key, index)
        return public_step(steps[0]) if steps else None

    def answer_id(self, key: str) -> str | None:
        """The stored answer's id once the generation is done."""
        draft = self.drafts.get_draft(key)
        if draft is None:
            cached = self.cache.get_cached_answer(key)
            return cached.get("answer_id") if cached else None
        return draft.get("answer_id") if draft["status"] == "done" else None

    def _stored_step(self, key: str, index: int) -> dict[str, Any] | None:
        """A draft expires an hour after its answer was stored: a lesson resumed later reads
        the stored answer's steps (in the answer cache), and one without it cannot go on."""
        cached = self.cache.get_cached_answer(key)
        if not cached or cached.get("format") != PREPARED_FORMAT:
            raise GenerationFailed()
        steps = cached.get("steps") or []
        return steps[index] if index < len(steps) else None

    def reserve_spend(self, user_id: str, *, allowed: int) -> bool:
        """Count a generation the student will be charged for once its first step is written;
        False when the ones already started would use up what they can spend."""
        ttl = int(self.first_step_timeout) + 30  # (a crashed asker's count lapses)
        return self.drafts.reserve(user_id, allowed=allowed, ttl_seconds=ttl)

    def release_spend(self, user_id: str) -> None:
        with contextlib.suppress(AppError):  # (else it lapses by itself)
            self.drafts.unreserve(user_id)

    def follow(self, key: str, watcher: str) -> None:
        """A lesson (or a waiting asker) follows this generation."""
        self.drafts.watch(key, watcher)

    def leave(self, key: str, watcher: str) -> None:
        """A lesson following this generation was stopped (or an asker stopped waiting); if it
        was the last, the generation stops too (at the model's next half second): nobody would
        see the rest."""
        if self.drafts.unwatch(key, watcher):
            log.info("generation %s abandoned by its last student", key[:12])

    def _current(self, key: str) -> dict[str, Any] | None:
        """The draft as it stands; one still "generating" whose lock has lapsed belongs to a
        generator that died, and counts as failed."""
        draft = self.drafts.get_draft(key)
        if draft is None or draft["status"] != "generating" or self.drafts.is_locked(key):
            return draft
        # A generator ends its draft before it lets go of the lock: read it again, in case it
        # ended between the two reads.
        draft = self.drafts.get_draft(key)
        if draft is not None and draft["status"] == "generating":
            log.warning("the generator of %s died; its lock lapsed", key[:12])
            return {**draft, "status": "failed", "crashed": True}
        return draft

    def _raise_if_ended_badly(self, draft: dict[str, Any]) -> None:
        if draft["status"] == "refused":
            raise ContentRefused(
                draft.get("message") or None, details={"reason": draft.get("reason", "flagged")}
            )
        if draft["status"] == "failed":
            reason = draft.get("reason")
            raise AiUnavailable(
                draft.get("message") or None, details={"reason": reason} if reason else None
            )

    def generate_now(
        self, *, question: str, question_hash: str, request: GenerationRequest
    ) -> Outcome:
        """Write (or rewrite) an answer in the calling thread, under the same lock students'
        generations take, and store it (for `answers generate`)."""
        key = question_hash
        token = str(uuid.uuid4())
        if not self.ai.available:
            raise AiUnavailable(details={"reason": "not_configured"})
        if not self.drafts.start(
            key, token, answer_id=str(uuid.uuid4()), lease_seconds=self.lock_lease_seconds
        ):
            return Outcome(status="busy")
        self._generate(key, token, question, question_hash, request)
        draft = self.drafts.get_draft(key) or {}
        return Outcome(
            status=draft.get("status", "failed"),
            answer_id=draft.get("answer_id"),
            prompt_tokens=int(draft.get("prompt_tokens") or 0),
            completion_tokens=int(draft.get("completion_tokens") or 0),
            message=draft.get("message"),
        )

    # -- the generator --------------------------------------------------------------------
    def _start(
        self, key: str, *, question: str, question_hash: str, request: GenerationRequest
    ) -> None:
        if not self.ai.available:
            raise AiUnavailable(details={"reason": "not_configured"})
        token = str(uuid.uuid4())
        if self.drafts.start(
            key, token, answer_id=str(uuid.uuid4()), lease_seconds=self.lock_lease_seconds
        ):
            self.runtime.spawn(self._generate, key, token, question, question_hash, request)
        # (else another asker's generator just started: follow it)

    def _generate(
        self,
        key: str,
        token: str,
        question: str,
        question_hash: str,
        request: GenerationRequest,
    ) -> None:
        started = time.monotonic()
        lease = _Lease(self.drafts, key, token, self.lock_lease_seconds)
        lease.keep()
        self._writing.add(key)
        try:
            self.ai.moderate(question)
            events = self.ai.generate(
                request, should_stop=lambda: lease.lost or self.drafts.abandoned(key)
            )
            for event in events:
                if isinstance(event, Planned):
                    self.drafts.write_draft(
                        key, token, total_steps=event.total_steps, subject=event.subject
                    )
                elif isinstance(event, StepWritten):
                    self._push(key, token, event.step)
                elif isinstance(event, Refused):
                    self.drafts.write_draft(
                        key,
                        token,
                        status="refused",
                        message=event.message[:500],
                        reason="out_of_scope",
                    )
                    return
                elif isinstance(event, Finished):
                    self._store(key, token, question, question_hash, event, request.follow_up_of)
                    log.info(
                        "answer generated in %d ms: %d steps, %d+%d tokens, %d calls, "
                        "checks %d/%d passed",
                        (time.monotonic() - started) * 1000,
                        len(event.steps),
                        event.prompt_tokens,
                        event.completion_tokens,
                        event.calls,
                        event.checks.passes,
                        event.checks.checks,
                    )
        except ContentRefused as exc:
            self.drafts.write_draft(
                key, token, status="refused", reason="flagged", message=exc.message
            )
        except AppError as exc:
            log.warning("generation of %s failed: %s", question_hash[:12], exc)
            self._fail(
                key,
                token,
                exc.message if isinstance(exc, AiUnavailable) else None,
                (exc.details or {}).get("reason") if isinstance(exc.details, dict) else None,
            )
        except Exception:
            log.exception("generation of %s failed", question_hash[:12])
            self._fail(key, token, None, None)
        finally:
            lease.end()
            self._writing.discard(key)
            with contextlib.suppress(AppError):  # (else it lapses by itself)
                self.drafts.release(key, token)

    def writing(self) -> int:
        """How many answers this process is writing now."""
        return len(self._writing)

    def wait_written(self, timeout: float) -> int:
        """The process is stopping: give the answers it is writing up to `timeout` seconds to
        be stored. How many were still unfinished (their drafts' leases lapse, and they count as
        failed generations for the lessons waiting on them)."""
        deadline = time.monotonic() + timeout
        while self._writing and time.monotonic() < deadline:
            self.runtime.sleep(0.1)
        return len(self._writing)

    def _push(self, key: str, token: str, step: AnswerStep) -> None:
        written = self.drafts.draft_steps(key)
        # Laid out after the steps before it, exactly as the whole answer will be.
        prepared = prepare_steps([*_raw(written), _step_json(step)])[-1]
        prepared["_raw"] = _step_json(step)
        if (
            self.drafts.push_step(key, token, prepared, lease_seconds=self.lock_lease_seconds)
            is None
        ):
            raise AiUnavailable()  # the lock lapsed: this generator stalled and lost it

    def _store(
        self,
        key: str,
        token: str,
        question: str,
        question_hash: str,
        done: Finished,
        follow_up_of: dict[str, Any] | None = None,
    ) -> None:
        draft = self.drafts.get_draft(key) or {}
        if not self.drafts.renew(key, token, lease_seconds=self.lock_lease_seconds):
            raise AiUnavailable()  # another generator took over: it stores the answer
        steps_json = [_step_json(step) for step in done.steps]
        total = sum(step.duration for step in done.steps)
        with self.db.transaction() as conn:
            row, _ = self.answers.upsert(
                conn,
                question_hash=question_hash,
                question_text=question,
                normalized_question=normalize_text(question),
                answer_steps=steps_json,
                total_duration=total,
                subject=done.subject,
                generated_by=self.ai.model,
                prompt_tokens=done.prompt_tokens,
                completion_tokens=done.completion_tokens,
                answer_id=draft.get("answer_id"),
                prompt_version=PROMPT_VERSION,
                checks=(done.checks.checks, done.checks.passes, done.checks.failures),
                follow_up_of=(
                    f"{follow_up_of['question_hash']}#{follow_up_of['step_number']}"
                    if follow_up_of
                    else None
                ),
            )
        prepared = prepare_steps(steps_json)
        self.cache.cache_answer(
            question_hash,
            prepared,
            total,
            answer_id=str(row["id"]),
            question=question,
            format=PREPARED_FORMAT,
            templates=templates_used(steps_json),
        )
        self.drafts.write_draft(
            key,
            token,
            status="done",
            answer_id=str(row["id"]),
            total_steps=len(done.steps),
            total_duration=total,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
        )

    def _fail(self, key: str, token: str, message: str | None, reason: str | None) -> None:
        # When Redis is gone too, the lock lapses and followers see the generator died.
        with contextlib.suppress(AppError):
            self.drafts.write_draft(key, token, status="failed", message=message, reason=reason)


class _Lease:
    """Keeps a generator's lock while it works (moderation, the wait for the model's first
    token, a corrective call): renewed a few times per lease on a thread of its own, so a slow
    model never looks like a dead generator. `lost` once a renewal fails."""

    def __init__(self, drafts: GenerationRepository, key: str, token: str, seconds: float):
        self.drafts, self.key, self.token, self.seconds = drafts, key, token, seconds
        self.lost = False
        self._stop = threading.Event()

    def keep(self) -> None:
        threading.Thread(target=self._renew, daemon=True).start()

    def end(self) -> None:
        self._stop.set()

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                if not self.drafts.renew(self.key, self.token, lease_seconds=self.seconds):
                    self.lost = True
                    return
            except AppError:
                pass  # Redis blinked: try again at the next beat


def _step_json(step: AnswerStep) -> dict[str, Any]:
    return {
        **step.model_dump(mode="json", exclude_none=True, exclude={"canvas"}),
        "canvas": [
            command.model_dump(mode="json", exclude_none=True, exclude_unset=True)
            for command in step.canvas
        ],
    }


def _raw(prepared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [step["_raw"] for step in prepared]


def public_step(step: dict[str, Any]) -> dict[str, Any]:
    """A draft's step as a lesson sends it (without what the generator keeps for itself)."""
    return {name: value for name, value in step.items() if name != "_raw"}
