"""What the LLM writes (its structured output) and the settings of a generation.

The model writes a `GeneratedAnswer`: its steps are the answer document's own `AnswerStep`, so
the JSON Schema it is given comes from the same models that check imports and the seed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models.answer import AnswerStep
from app.models.questions import Subject
from app.utils.llm_schema import strict_json_schema

MAX_GENERATED_STEPS = 8


class GeneratedAnswer(BaseModel):
    """The order of the fields is the order the model writes them: a refusal or the plan first,
    then the steps, each of which can be shown as soon as it is complete."""

    model_config = ConfigDict(extra="forbid")

    refusal: str | None = Field(
        default=None,
        description=(
            "Solo si la pregunta no trata de estudiar (matemáticas, ciencias, exámenes): una "
            "respuesta breve y amable en español que lo explica. Si no, null."
        ),
    )
    subject: Subject | None = Field(default=None, description="La materia de la pregunta")
    total_steps: int = Field(
        default=0, ge=0, le=MAX_GENERATED_STEPS, description="Cuántos pasos tendrá"
    )
    steps: list[AnswerStep] = Field(default_factory=list, max_length=MAX_GENERATED_STEPS)


# Computed on the server, never written by the model: axis ticks. Templates take free-form
# parameters, which strict schemas cannot describe, and long polylines are plots' job.
_SERVER_FIELDS = frozenset({"x_ticks", "y_ticks"})
_NOT_OFFERED = frozenset({"Template", "Polyline", "Tick"})


def answer_schema() -> dict[str, Any]:
    """The strict JSON Schema of `GeneratedAnswer` for the Chat Completions response format."""
    return strict_json_schema(
        GeneratedAnswer, drop_fields=_SERVER_FIELDS, drop_definitions=_NOT_OFFERED
    )
