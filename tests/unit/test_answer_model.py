import pytest
from pydantic import ValidationError

from app.models.answer import AnswerDocument


def document(**overrides):
    base = {
        "question": "¿Qué es una derivada?",
        "subject": "calculo",
        "steps": [
            {
                "title": "Idea intuitiva",
                "content_type": "text",
                "content": "La derivada mide el cambio instantáneo.",
                "duration": 20,
                "canvas": [
                    {"type": "line", "x1": 50, "y1": 550, "x2": 750, "y2": 550, "at": 0},
                    {"type": "text", "x": 60, "y": 40, "text": "f(x)", "at": 10},
                ],
            },
            {
                "title": "Resumen",
                "content_type": "summary",
                "content": "Pendiente.",
                "duration": 10,
            },
        ],
    }
    base.update(overrides)
    return base


def test_valid_document_keeps_commands_and_sums_duration():
    parsed = AnswerDocument.model_validate(document())
    assert parsed.total_duration == 30
    assert parsed.generated_by == "manual"
    steps = parsed.steps_json()
    assert steps[0]["canvas"][0] == {
        "type": "line",
        "x1": 50,
        "y1": 550,
        "x2": 750,
        "y2": 550,
        "at": 0,
    }
    assert steps[1]["canvas"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"question": "   "}, "question"),
        ({"question": "¿?"}, "question"),
        ({"steps": []}, "steps"),
        ({"total_duration": 0}, "total_duration"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_document_level_errors_name_the_field(change, field):
    with pytest.raises(ValidationError) as info:
        AnswerDocument.model_validate(document(**change))
    assert field in {str(err["loc"][0]) for err in info.value.errors()}


def test_step_errors_name_the_step_and_field():
    bad = document()
    bad["steps"][1]["content_type"] = "poem"
    bad["steps"][0]["canvas"][1]["type"] = "hologram"
    with pytest.raises(ValidationError) as info:
        AnswerDocument.model_validate(bad)
    locations = {".".join(map(str, err["loc"])) for err in info.value.errors()}
    assert "steps.1.content_type" in locations
    assert "steps.0.canvas.1" in locations  # (an unknown type: no such command)


def test_canvas_command_cannot_start_after_the_text_ends():
    bad = document()
    bad["steps"][1]["canvas"] = [{"type": "circle", "x": 1, "y": 1, "radius": 5, "at": 500}]
    with pytest.raises(ValidationError, match="past the end of the content"):
        AnswerDocument.model_validate(bad)
