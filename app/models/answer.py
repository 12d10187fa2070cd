"""The answer document (ARCHITECTURE.md section 6): what is stored in `ai_answers.answer_steps`,
imported by `answers import`, produced by the LLM and streamed as a lesson.

This model is the single source of the document's shape; the JSON Schema for the LLM and the
OpenAPI docs are generated from it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.models.canvas import CanvasCommand

ContentType = Literal["text", "formula", "example", "visual", "summary"]

MAX_STEPS = 30
MAX_STEP_CONTENT = 8_000
MAX_COMMANDS_PER_STEP = 200


class AnswerStep(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    content_type: ContentType = "text"
    content: str = Field(min_length=1, max_length=MAX_STEP_CONTENT)
    duration: int = Field(default=15, ge=1, le=900, description="Seconds")
    canvas: list[CanvasCommand] = Field(default_factory=list, max_length=MAX_COMMANDS_PER_STEP)

    @model_validator(mode="after")
    def _commands_within_content(self) -> AnswerStep:
        for index, command in enumerate(self.canvas):
            if command.at > len(self.content):
                raise ValueError(
                    f"canvas[{index}].at = {command.at} is past the end of the content "
                    f"({len(self.content)} characters)"
                )
        return self


class AnswerDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    question: str = Field(min_length=1, max_length=2_000)
    subject: str | None = Field(default=None, max_length=60)
    total_duration: int | None = Field(default=None, ge=1, le=7_200, description="Seconds")
    generated_by: str = Field(default="manual", min_length=1, max_length=100)
    steps: list[AnswerStep] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("question")
    @classmethod
    def _question_has_words(cls, value: str) -> str:
        if not any(ch.isalnum() for ch in value):
            raise ValueError("the question must contain letters or numbers")
        return value

    @model_validator(mode="after")
    def _default_duration(self) -> AnswerDocument:
        if self.total_duration is None:
            self.total_duration = sum(step.duration for step in self.steps)
        return self

    def steps_json(self) -> list[dict]:
        """The steps as stored: canvas commands as written (after checks and clamping), without
        the defaults the board fills in, so an export reads like the import."""
        return [
            {
                **step.model_dump(mode="json", exclude_none=True, exclude={"canvas"}),
                "canvas": [
                    command.model_dump(mode="json", exclude_none=True, exclude_unset=True)
                    for command in step.canvas
                ],
            }
            for step in self.steps
        ]
