"""The schema the LLM writes to is the answer document's own, in OpenAI's strict subset."""

from __future__ import annotations

import json
from typing import Any

from app.models.generation import GeneratedAnswer, answer_schema
from app.services.ai_prompt import EXAMPLES, build_messages
from app.utils.llm_schema import drop_nulls
from app.utils.math_check import check_step


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_every_object_lists_all_its_properties_and_forbids_others():
    for node in walk(answer_schema()):
        if node.get("type") == "object" and "properties" in node:
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])


def test_the_schema_uses_only_what_strict_mode_accepts():
    text = json.dumps(answer_schema())
    for keyword in ("oneOf", "prefixItems", "discriminator", '"default"', "minLength", "pattern"):
        assert keyword not in text


def test_drawings_computed_on_the_server_are_not_offered_to_the_model():
    schema = answer_schema()
    assert "Template" not in schema["$defs"] and "Polyline" not in schema["$defs"]
    assert "x_ticks" not in schema["$defs"]["Axes"]["properties"]


def test_the_fields_come_in_the_order_a_lesson_needs_them():
    assert list(answer_schema()["properties"]) == ["refusal", "subject", "total_steps", "steps"]


def test_the_prompts_worked_examples_are_valid_answers_with_correct_math():
    for _question, answer in EXAMPLES:
        example = GeneratedAnswer.model_validate(drop_nulls(answer))
        assert len(example.steps) == example.total_steps == 2
        for step in example.steps:
            assert check_step(step.content).failures == []


def test_a_step_written_with_explicit_nulls_is_read_as_absent_fields():
    step = {
        "title": "Idea",
        "content_type": None,
        "content": "Un círculo de radio $r$.",
        "duration": None,
        "canvas": [
            {
                "type": "circle", "x": 400, "y": 300, "radius": 50, "at": None,
                "animation": None, "color": None, "stroke_width": None, "fill": None,
            }
        ],
    }  # fmt: skip
    answer = GeneratedAnswer.model_validate(drop_nulls({"steps": [step]}))
    assert answer.steps[0].content_type == "text" and answer.steps[0].canvas[0].at == 0


def test_a_bank_questions_lettered_options_reach_the_model():
    messages = build_messages(
        "Un automóvil recorre 150 km en 2 h...",
        bank_question={"question_text": "...", "options": {"a": "75 m/s", "b": "20.8 m/s"}},
    )
    assert "a) 75 m/s; b) 20.8 m/s" in messages[-1]["content"]


def test_the_question_goes_last_with_what_is_known_of_the_student():
    messages = build_messages(
        "¿Cuál es la respuesta?",
        learning_level="secundaria",
        bank_question={"question_text": "2 + 2 =", "options": ["A) 3", "B) 4"]},
    )
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert "secundaria" in messages[-1]["content"] and "B) 4" in messages[-1]["content"]
