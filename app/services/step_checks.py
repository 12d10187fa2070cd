"""What a machine can check in a step the AI wrote, before a student sees it: its arithmetic,
algebra, derivatives, integrals, limits and equation solutions (SymPy and mpmath, within a time
budget), and, for an exam question, that the option it names is the bank's correct one."""

from __future__ import annotations

from typing import Any

from app.models.answer import AnswerStep
from app.services.ai_service import StepVerdict

STEP_CHECK_SECONDS = 1.0


def check_generated_step(
    step: AnswerStep, before: list[AnswerStep], bank_question: dict[str, Any] | None
) -> StepVerdict:
    # SymPy is loaded with the first step to check, not when every process starts.
    from app.utils.math_check import check_option, check_step

    result = check_step(
        step.content,
        context="\n".join(earlier.content for earlier in before),
        time_budget=STEP_CHECK_SECONDS,
    )
    checks, passes, problems = result.checks, result.passes, list(result.failures)
    correct = (bank_question or {}).get("correct_answer")
    options = (bank_question or {}).get("options")
    if correct and options:
        named = check_option(step.content, options, correct)
        if named is not None:
            checks += 1
            if named:
                passes += 1
            else:
                problems.append(
                    f"the option it gives as the answer is wrong: the correct one is {correct}"
                )
    return StepVerdict(checks=checks, passes=passes, problems=problems)
