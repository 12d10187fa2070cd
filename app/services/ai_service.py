"""The AI service (the seed's AIService): one answer document written by an OpenAI chat model,
streamed step by step while it is written.

- The model answers in a strict JSON Schema generated from the answer document's own models
  (`app/models/generation.py`), so each step it writes is checked by the same code that checks
  imports: canvas commands validated and pulled onto the board.
- With `stream=True` the output is parsed as it arrives (jiter's partial mode, the parser the SDK
  itself uses): a step is handed out as soon as the next one begins, so the student's lesson
  starts after one step is written, not the whole answer.
- Every step that states something a machine can check (arithmetic, algebra, derivatives,
  integrals, the solutions of an equation, a bank question's correct option) is checked before it
  is handed out. An invalid document or a failed check gets one corrective call; a second
  problem drops the answer (`AI_UNAVAILABLE`): no wrong math is shown, no answer is invented.
- Provider failures: the SDK retries timeouts, 429 and 5xx with backoff and jitter (but not
  `insufficient_quota`, which is final); a stream cut midway is a failure like any other; a
  circuit breaker shared by all processes stops calling a failing provider for a while.
- Spoken questions are transcribed by the audio transcription API under the same client, retries
  and breaker, in Spanish, with a confidence when the model reports one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import jiter
import openai
from pydantic import ValidationError

from app.errors import AiUnavailable, ContentRefused, InvalidInput
from app.metrics import LLM_CALLS, LLM_SECONDS, count_llm_tokens
from app.models.answer import AnswerStep
from app.models.generation import MAX_GENERATED_STEPS, answer_schema
from app.repositories.generation_repo import GenerationRepository
from app.services.ai_prompt import build_messages, fix_step_message, repair_message
from app.utils.llm_schema import drop_nulls
from app.utils.phrases import PHRASES

log = logging.getLogger(__name__)

MODERATION_MODEL = "omni-moderation-latest"
TEMPORARY_PROBLEM = PHRASES["problem"][0]  # the seed's words, shown as a waiting phrase too
STOP_CHECK_SECONDS = 0.5


@contextmanager
def _measured(kind: str) -> Iterator[None]:
    """One call to the provider: counted by outcome, timed."""
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        LLM_CALLS.labels(kind, outcome).inc()
        LLM_SECONDS.labels(kind).observe(time.monotonic() - started)


class _Client(openai.OpenAI):
    """The SDK's client, minus retries that cannot help: an exhausted quota stays exhausted,
    and a server asking to wait longer than a student would is not waited for."""

    max_retry_after: float = 10.0

    def _should_retry(self, response: httpx2.Response) -> bool:
        try:
            response.read()
            body = response.json()
        except (ValueError, httpx2.HTTPError):
            body = None  # (a proxy's page, not OpenAI's error object)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("code") == "insufficient_quota":
            return False
        retry_after = self._parse_retry_after_header(response.headers)
        if retry_after is not None and retry_after > self.max_retry_after:
            return False
        return super()._should_retry(response)


def build_client(
    *, api_key: str | None, base_url: str | None, timeout: float, max_retries: int
) -> openai.OpenAI | None:
    if not api_key:
        return None
    return _Client(
        api_key=api_key,
        base_url=base_url,
        timeout=httpx2.Timeout(timeout, connect=5.0),
        max_retries=max_retries,
    )


@dataclass(frozen=True)
class GenerationRequest:
    question: str
    learning_level: str | None = None
    bank_question: dict[str, Any] | None = None  # question_text, options, correct_answer
    # The step a follow-up question interrupts: question_hash, step_number, title, content.
    follow_up_of: dict[str, Any] | None = None
    max_steps: int = MAX_GENERATED_STEPS
    max_tokens: int | None = None


@dataclass
class CheckTally:
    checks: int = 0
    passes: int = 0
    failures: int = 0

    def add(self, other: StepVerdict) -> None:
        self.checks += other.checks
        self.passes += other.passes
        self.failures += len(other.problems)


@dataclass(frozen=True)
class StepVerdict:
    checks: int = 0
    passes: int = 0
    problems: list[str] = field(default_factory=list)


# step, the steps before it, the bank question (or None) -> what a machine could check in it
StepChecker = Callable[[AnswerStep, list[AnswerStep], dict[str, Any] | None], StepVerdict]


@dataclass(frozen=True)
class Transcription:
    text: str
    confidence: float | None  # 0-1, from the model's log probabilities when it gives them
    model: str


# Transcription models that report log probabilities, and how they are asked for.
_LOGPROB_MODELS = ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
# The provider could not use the audio itself (a format it cannot decode, too big).
_AUDIO_REFUSED = (400, 413, 415, 422)


@dataclass(frozen=True)
class Planned:
    total_steps: int
    subject: str | None


@dataclass(frozen=True)
class StepWritten:
    index: int
    step: AnswerStep


@dataclass(frozen=True)
class Refused:
    message: str


@dataclass(frozen=True)
class Finished:
    steps: list[AnswerStep]
    subject: str | None
    prompt_tokens: int
    completion_tokens: int
    checks: CheckTally
    calls: int


GenerationEvent = Planned | StepWritten | Refused | Finished
_DocumentEvents = Generator[tuple[str, Any], None, None]


class _Rejected(Exception):
    """A step or document that cannot be shown as written (invalid, or wrong math)."""

    def __init__(self, index: int, message: dict[str, str], reason: str):
        self.index = index
        self.message = message
        self.reason = reason
        super().__init__(reason)


class AIService:
    def __init__(
        self,
        *,
        client: openai.OpenAI | None,
        model: str,
        max_tokens: int,
        breaker: GenerationRepository,
        breaker_threshold: int = 5,
        breaker_window_seconds: int = 60,
        breaker_open_seconds: int = 30,
        check_step: StepChecker | None = None,
        moderation: bool = True,
        transcribe_model: str = "gpt-transcribe",
        price_per_million: tuple[float, float] = (0.0, 0.0),  # input, output tokens (USD)
    ):
        self.price_per_million = price_per_million
        self.client = client
        self.model = model
        self.transcribe_model = transcribe_model
        self.max_tokens = max_tokens
        self.breaker = breaker
        self.breaker_threshold = breaker_threshold
        self.breaker_window_seconds = breaker_window_seconds
        self.breaker_open_seconds = breaker_open_seconds
        self.check_step = check_step
        self.moderation = moderation

    @property
    def available(self) -> bool:
        return self.client is not None

    # -- moderation -----------------------------------------------------------------------
    def moderate(self, text: str) -> None:
        """Refuse (CONTENT_REFUSED) what the moderation endpoint flags. Logged without the
        text: it may be what a student should not have written, and it is theirs."""
        client = self._client()
        if not self.moderation:
            return  # (a compatible server without a moderation endpoint)
        try:
            with _measured("moderation"):
                result = client.moderations.create(model=MODERATION_MODEL, input=text)
        except (openai.APIError, httpx2.HTTPError) as exc:
            self._provider_failed(exc)
        flagged = [r for r in result.results if r.flagged]
        if flagged:
            categories = sorted(
                name for name, on in flagged[0].categories.model_dump().items() if on
            )
            log.warning("question refused by moderation (categories: %s)", ", ".join(categories))
            raise ContentRefused(details={"reason": "flagged"})

    # -- speech -------------------------------------------------------------------------
    def transcribe(
        self, audio: bytes, *, filename: str, mime_type: str, language: str = "es"
    ) -> Transcription:
        """The text of a recording (its format named by `filename` and `mime_type`). Raises
        AiUnavailable when the provider fails (retried first, counted by the breaker) and
        InvalidInput when it cannot use this audio."""
        client = self._client()
        model = self.transcribe_model
        params: dict[str, Any] = {
            "model": model,
            "file": (filename, audio, mime_type),
            "language": language,
            "response_format": "json",
        }
        if model.startswith("whisper"):
            params["response_format"] = "verbose_json"  # segments carry their log probabilities
        elif model.startswith(_LOGPROB_MODELS) and "diarize" not in model:
            params["include"] = ["logprobs"]
        try:
            with _measured("transcription"):
                result = client.audio.transcriptions.create(**params)
        except openai.APIStatusError as exc:
            if exc.status_code not in _AUDIO_REFUSED:
                self._provider_failed(exc)
            log.error("the transcription API refused the audio (%s): %s", exc.status_code, exc)
            raise InvalidInput(
                "No pudimos procesar ese audio. Graba de nuevo o escribe tu pregunta.",
                details={"reason": "unreadable_audio"},
            ) from None
        except (openai.APIError, httpx2.HTTPError) as exc:
            self._provider_failed(exc)
        self._provider_ok()
        return Transcription(
            text=" ".join(str(result.text or "").split()),
            confidence=_transcription_confidence(result),
            model=model,
        )

    # -- generation -----------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[GenerationEvent]:
        """Write the answer: `Planned` once, a `StepWritten` per step as soon as it is complete
        and checked, then `Finished` (or `Refused` for a question outside the domain).
        Raises AiUnavailable when no correct answer can be written, or when `should_stop()`
        turns true (checked about twice a second while the model writes: nobody is waiting for
        the answer any more, so it is not paid for any more)."""
        client = self._client()
        messages: list[dict[str, str]] = build_messages(
            request.question,
            learning_level=request.learning_level,
            bank_question=request.bank_question,
            follow_up_of=request.follow_up_of,
        )
        shown: list[AnswerStep] = []
        tally = CheckTally()
        usage = [0, 0]
        calls = 0
        planned = False
        corrections_left = 1
        raw = ""
        subject: str | None = None
        while True:
            calls += 1
            # A corrective call streams too: the timeout is between bytes, never the whole time
            # the model takes to write a document.
            document_events = self._streamed(client, messages, request, usage, should_stop)
            try:
                for kind, value in document_events:
                    if kind == "raw":
                        raw = value
                    elif kind == "refusal":
                        yield Refused(value)
                        return
                    elif kind == "plan" and not planned:
                        planned = True
                        subject = value.get("subject")
                        yield Planned(
                            total_steps=min(int(value.get("total_steps") or 0), request.max_steps),
                            subject=subject,
                        )
                    elif kind == "step":
                        index, data = value
                        if index < len(shown):
                            continue  # shown already, from the first version
                        step = self._accept(index, data, shown, request, tally)
                        shown.append(step)
                        yield StepWritten(index, step)
                        if len(shown) == request.max_steps:
                            # All that is wanted (a follow-up's one step): stop paying for more.
                            usage[1] = max(usage[1], len(raw) // 4)
                            yield Finished(
                                steps=shown,
                                subject=subject,
                                prompt_tokens=usage[0],
                                completion_tokens=usage[1],
                                checks=tally,
                                calls=calls,
                            )
                            return
                    elif kind == "end":
                        if not shown:
                            raise _Rejected(
                                0, repair_message("- steps: no hay ningún paso"), "empty"
                            )
                        yield Finished(
                            steps=shown,
                            subject=subject or value.get("subject"),
                            prompt_tokens=usage[0],
                            completion_tokens=usage[1],
                            checks=tally,
                            calls=calls,
                        )
                        return
            except _Rejected as rejected:
                log.warning(
                    "generated answer rejected at step %d: %s", rejected.index + 1, rejected.reason
                )
                if corrections_left == 0:
                    raise AiUnavailable() from None
                corrections_left -= 1
                messages = [
                    *messages,
                    {"role": "assistant", "content": raw or "{}"},
                    rejected.message,
                ]
            finally:
                document_events.close()  # a stream left early is closed: no more tokens paid

    def _accept(
        self,
        index: int,
        data: Any,
        shown: list[AnswerStep],
        request: GenerationRequest,
        tally: CheckTally,
    ) -> AnswerStep:
        try:
            step = AnswerStep.model_validate(drop_nulls(data))
        except ValidationError as exc:
            errors = "\n".join(
                f"- steps[{index}].{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in exc.errors()[:10]
            )
            raise _Rejected(index, repair_message(errors), "invalid step") from None
        if self.check_step is not None:
            verdict = self.check_step(step, shown, request.bank_question)
            tally.add(verdict)
            if verdict.problems:
                raise _Rejected(
                    index,
                    fix_step_message(index + 1, verdict.problems),
                    "; ".join(verdict.problems),
                )
        return step

    def _streamed(
        self,
        client: openai.OpenAI,
        messages: list[dict[str, str]],
        request: GenerationRequest,
        usage: list[int],
        should_stop: Callable[[], bool] | None = None,
    ) -> _DocumentEvents:
        """The first version, streamed: its refusal, plan and steps as they complete."""
        text = ""
        refusal = ""
        counted = False
        next_check = time.monotonic() + STOP_CHECK_SECONDS
        finish: str | None = None
        emitted = 0
        planned = False
        started, tokens_before = time.monotonic(), tuple(usage)
        try:
            stream = client.chat.completions.create(
                **self._params(messages, request),
                stream=True,
                stream_options={"include_usage": True},
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        counted = True
                        usage[0] += chunk.usage.prompt_tokens
                        usage[1] += chunk.usage.completion_tokens
                    if not chunk.choices:
                        continue
                    if should_stop is not None and time.monotonic() > next_check:
                        next_check = time.monotonic() + STOP_CHECK_SECONDS
                        if should_stop():
                            log.info("generation abandoned: nobody is waiting for it")
                            raise AiUnavailable(details={"reason": "abandoned"})
                    choice = chunk.choices[0]
                    finish = choice.finish_reason or finish
                    refusal += choice.delta.refusal or ""  # the provider's own safety refusal
                    delta = choice.delta.content or ""
                    if not delta:
                        continue
                    text += delta
                    if not any(mark in delta for mark in ',}]"'):
                        continue  # nothing can have completed inside a word
                    partial = _partial(text)
                    if partial.get("refusal") and "subject" in partial:
                        yield "raw", text
                        yield "refusal", partial["refusal"]
                        return  # nothing more is paid for
                    steps = partial.get("steps")
                    if isinstance(steps, list):
                        if not planned:
                            planned = True
                            yield "plan", partial
                        # A step is complete once the next one has begun.
                        while emitted < len(steps) - 1:
                            yield "raw", text
                            yield "step", (emitted, steps[emitted])
                            emitted += 1
        except (openai.APIError, httpx2.HTTPError) as exc:
            self._provider_failed(exc)
        finally:
            if not counted:  # closed before the usage chunk: estimated, about 4 characters each
                usage[0] += len(json.dumps(messages, ensure_ascii=False)) // 4
                usage[1] += len(text) // 4
            LLM_CALLS.labels("chat", "ok" if finish is not None else "error").inc()
            LLM_SECONDS.labels("chat").observe(time.monotonic() - started)
            count_llm_tokens(
                usage[0] - tokens_before[0],
                usage[1] - tokens_before[1],
                price_in=self.price_per_million[0],
                price_out=self.price_per_million[1],
            )
        yield "raw", text
        if finish is None:  # the stream ended without its last chunk: cut midway
            self._provider_failed(None, reason="the stream was cut before its end")
        self._provider_ok()
        if refusal or finish == "content_filter":
            log.warning("the provider refused to answer (finish %s)", finish)
            raise ContentRefused(details={"reason": "flagged"})
        if finish == "length":
            # The document does not fit in the tokens allowed: asking again would not help.
            log.error("generated answer cut at max_tokens (%d)", self.max_tokens)
            raise AiUnavailable()
        if finish != "stop":
            raise _Rejected(
                emitted, repair_message(f"- finish_reason: {finish}"), f"finish {finish}"
            )
        yield from self._document_events(text, emitted, planned)

    def _document_events(self, text: str, emitted: int, planned: bool) -> _DocumentEvents:
        try:
            document = json.loads(text)
            if not isinstance(document, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise _Rejected(
                emitted, repair_message(f"- JSON inválido: {exc}"), "invalid JSON"
            ) from None
        if document.get("refusal"):
            yield "refusal", str(document["refusal"])
            return
        steps = document.get("steps")
        if not isinstance(steps, list):
            raise _Rejected(emitted, repair_message("- steps: falta la lista de pasos"), "no steps")
        if not planned:
            yield "plan", document
        for index in range(emitted, len(steps)):
            yield "step", (index, steps[index])
        yield "end", document

    def _params(self, messages: list[dict[str, str]], request: GenerationRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens or self.max_tokens,
            "temperature": 0.3,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "leccion", "strict": True, "schema": _SCHEMA},
            },
        }

    # -- the provider's health ------------------------------------------------------------
    def _client(self) -> openai.OpenAI:
        if self.client is None:
            raise AiUnavailable(details={"reason": "not_configured"})
        if self.breaker.breaker_open():
            raise AiUnavailable(
                TEMPORARY_PROBLEM,
                retry_after=self.breaker_open_seconds,
                details={"reason": "provider"},
            )
        return self.client

    def _provider_ok(self) -> None:
        self.breaker.record_success()

    def _provider_failed(self, exc: Exception | None, *, reason: str = "") -> Any:
        """Count the failure (the breaker opens after too many) and give up on this answer."""
        code = getattr(exc, "code", None)
        status = getattr(exc, "status_code", None)
        if code == "insufficient_quota":
            # Final until someone pays: every call would fail the same way. An alert.
            log.critical("OpenAI quota exhausted: AI answers are off until it is raised")
            self.breaker.open_breaker(seconds=self.breaker_open_seconds * 10)
        elif status in (401, 403):
            log.critical("OpenAI refused the API key (%s): check OPENAI_API_KEY", status)
        elif status is not None and status < 500 and status != 429:
            # This request was wrong (too big, a model the server lacks), not the provider
            # down: other questions may go through, so the breaker does not count it.
            log.error("OpenAI refused the request: %s: %s", type(exc).__name__, exc)
        else:
            log.error("OpenAI call failed: %s", reason or f"{type(exc).__name__}: {exc}")
            self.breaker.record_failure(
                window_seconds=self.breaker_window_seconds,
                threshold=self.breaker_threshold,
                open_seconds=self.breaker_open_seconds,
            )
        raise AiUnavailable(TEMPORARY_PROBLEM, details={"reason": "provider"}) from None


_SCHEMA = answer_schema()


def _transcription_confidence(result: Any) -> float | None:
    """exp of the mean log probability of what was heard (token log probabilities, or a
    verbose response's segments weighted by their length); None when the model gives none
    (or a compatible server gives something else)."""
    try:
        return _mean_probability(result)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def _mean_probability(result: Any) -> float | None:
    logprobs = [
        item.logprob for item in getattr(result, "logprobs", None) or [] if item.logprob is not None
    ]
    if logprobs:
        return round(math.exp(sum(logprobs) / len(logprobs)), 3)
    segments = getattr(result, "segments", None) or []
    weights = [max(0.01, float(seg.end) - float(seg.start)) for seg in segments]
    if segments:
        mean = sum(w * float(seg.avg_logprob) for w, seg in zip(weights, segments, strict=True))
        return round(math.exp(mean / sum(weights)), 3)
    return None


def _partial(text: str) -> dict[str, Any]:
    try:
        value = jiter.from_json(text.encode(), partial_mode=True)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
