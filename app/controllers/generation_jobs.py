"""Writing many answers at once for `flask answers generate` (the CLI's side): a few
generations at a time on threads, each stored by the generation service as soon as it is
written, with a progress bar on the terminal."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import click

from app.errors import AppError
from app.services.ai_service import GenerationRequest
from app.services.answer_service import AnswerToWrite
from app.services.generation_service import GenerationService, Outcome

log = logging.getLogger(__name__)


@dataclass
class GenerationReport:
    done: int = 0
    failed: int = 0
    refused: int = 0
    busy: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, code: str, outcome: Outcome) -> None:
        self.prompt_tokens += outcome.prompt_tokens
        self.completion_tokens += outcome.completion_tokens
        if outcome.status == "done":
            self.done += 1
        elif outcome.status == "refused":
            self.refused += 1
        elif outcome.status == "busy":
            self.busy += 1
        else:
            self.failed += 1
            self.failures.append((code, outcome.message or "failed"))


def run_generation(
    generation: GenerationService, todo: list[AnswerToWrite], concurrency: int
) -> GenerationReport:
    report = GenerationReport()

    def write(item: AnswerToWrite) -> Outcome:
        try:
            return generation.generate_now(
                question=item.question,
                question_hash=item.question_hash,
                request=GenerationRequest(question=item.question, bank_question=item.bank_question),
            )
        except AppError as exc:
            return Outcome(status="failed", message=exc.message)

    bar = click.progressbar(
        length=len(todo),
        label="writing answers",
        file=click.get_text_stream("stderr"),  # type: ignore[operator]  # (click's stubs)
    )
    with ThreadPoolExecutor(max_workers=concurrency) as pool, bar:
        futures = {pool.submit(write, item): item for item in todo}
        for future in as_completed(futures):
            report.add(futures[future].code, future.result())
            bar.update(1)
    return report
