"""The whiteboard's drawing language: every command type checked, pulled onto the board, and
prepared (plots sampled, axes ticked) the way the student's board receives it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.models.answer import MAX_COMMANDS_PER_STEP, AnswerStep
from app.models.canvas import BOARD_HEIGHT, BOARD_WIDTH, CanvasCommand
from app.utils.canvas_commands import prepare_commands

COMMAND = TypeAdapter(CanvasCommand)

VALID = [
    {"type": "rectangle", "x": 100, "y": 100, "width": 200, "height": 80, "fill": "#ecf0f1"},
    {"type": "circle", "x": 400, "y": 300, "radius": 50, "color": "red"},
    {"type": "line", "x1": 50, "y1": 550, "x2": 750, "y2": 550, "dashed": True},
    {"type": "arrow", "x1": 100, "y1": 100, "x2": 300, "y2": 100, "head_size": 12},
    {"type": "text", "x": 60, "y": 40, "text": "f(x)", "font_size": 24, "align": "center"},
    {"type": "latex", "x": 200, "y": 80, "latex": "\\frac{a}{b}"},
    {"type": "polygon", "points": [[100, 500], [300, 500], [100, 300]], "fill": "#3498db33"},
    {"type": "polyline", "points": [[0, 0], [10, 10], [20, 5]]},
    {"type": "axes", "x_min": -5, "x_max": 5, "y_min": -2, "y_max": 8, "grid": True},
    {"type": "function_plot", "expr": "x^2 - 1", "x_min": -3, "x_max": 3, "y_min": -2, "y_max": 8},
    {"type": "highlight", "x": 90, "y": 30, "width": 100, "height": 40},
    {"type": "clear", "at": 12},
    {"type": "template", "name": "unit_circle", "params": {"angle": 30}},
]


@pytest.mark.parametrize("command", VALID, ids=[c["type"] for c in VALID])
def test_every_command_type_is_accepted_with_an_animation(command):
    parsed = COMMAND.validate_python({**command, "animation": {"kind": "grow", "duration_ms": 400}})
    assert parsed.type == command["type"]
    assert parsed.animation.kind == "grow"


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "hologram", "x": 1},
        {"type": "text", "x": 1, "y": 1, "text": "hola", "onclick": "alert(1)"},
        {"type": "circle", "x": 1, "y": 1, "radius": 5, "color": "url(javascript:alert(1))"},
        {"type": "circle", "x": 1, "y": 1, "radius": 5, "color": "#12"},
        {"type": "rectangle", "x": 1, "y": 1, "width": 1e9, "height": 10},
        {"type": "rectangle", "x": 1, "y": 1, "width": -5, "height": 10},
        {"type": "line", "x1": float("nan"), "y1": 0, "x2": 1, "y2": 1},
        {"type": "line", "x1": 0, "y1": 0, "x2": 1e7, "y2": 1},
        {"type": "text", "x": 1, "y": 1, "text": "a\u0000b"},
        {"type": "text", "x": 1, "y": 1, "text": "x" * 301},
        {"type": "text", "x": 1, "y": 1, "text": "grande", "font_size": 500},
        {"type": "polygon", "points": [[0, 0], [1, 1]]},
        {"type": "polyline", "points": [[0, 0]] * 2001},
        {"type": "axes", "x_min": 5, "x_max": -5},
        {"type": "function_plot", "expr": "__import__('os')", "x_min": 0, "x_max": 1},
        {"type": "function_plot", "expr": "x +", "x_min": 0, "x_max": 1},
        {"type": "template", "name": "../../etc/passwd"},
        {"type": "circle", "x": 1, "y": 1, "radius": 5, "animation": {"kind": "explode"}},
        {"type": "circle", "x": 1, "y": 1, "radius": 5, "at": -1},
        "not a command",
    ],
)
def test_nonsense_is_refused(bad):
    with pytest.raises(ValidationError):
        COMMAND.validate_python(bad)


def test_drawings_slightly_off_the_board_are_pulled_onto_it():
    rect = COMMAND.validate_python(
        {"type": "rectangle", "x": 750, "y": -20, "width": 200, "height": 50}
    )
    assert (rect.x, rect.y, rect.width, rect.height) == (750, 0, 50, 50)
    circle = COMMAND.validate_python({"type": "circle", "x": -40, "y": 900, "radius": 5000})
    assert (circle.x, circle.y, circle.radius) == (0, BOARD_HEIGHT, BOARD_HEIGHT / 2)
    line = COMMAND.validate_python({"type": "arrow", "x1": -5, "y1": 10, "x2": 1200, "y2": 610})
    assert (line.x1, line.x2, line.y2) == (0, BOARD_WIDTH, BOARD_HEIGHT)
    polygon = COMMAND.validate_python({"type": "polygon", "points": [[-1, -1], [900, 5], [5, 700]]})
    assert polygon.points == [(0, 0), (BOARD_WIDTH, 5), (5, BOARD_HEIGHT)]


COORDINATES = st.floats(min_value=-10_000, max_value=10_000, allow_nan=False)


@given(x=COORDINATES, y=COORDINATES, w=st.floats(0.1, 10_000), h=st.floats(0.1, 10_000))
def test_any_sane_box_ends_up_on_the_board(x, y, w, h):
    for kind in ("rectangle", "highlight"):
        box = COMMAND.validate_python({"type": kind, "x": x, "y": y, "width": w, "height": h})
        assert 0 <= box.x <= BOARD_WIDTH and 0 <= box.y <= BOARD_HEIGHT
        assert box.x + box.width <= BOARD_WIDTH + 1 and box.y + box.height <= BOARD_HEIGHT + 1


def test_a_step_holds_a_bounded_number_of_commands():
    dot = {"type": "circle", "x": 1, "y": 1, "radius": 1}
    step = {"title": "Paso", "content": "Texto.", "canvas": [dot] * MAX_COMMANDS_PER_STEP}
    assert len(AnswerStep.model_validate(step).canvas) == MAX_COMMANDS_PER_STEP
    with pytest.raises(ValidationError):
        AnswerStep.model_validate({**step, "canvas": [dot] * (MAX_COMMANDS_PER_STEP + 1)})


def test_a_plot_is_sent_as_polylines_inside_its_box():
    plot = {
        "type": "function_plot",
        "expr": "1/x",
        "x_min": -4,
        "x_max": 4,
        "y_min": -4,
        "y_max": 4,
        "x": 100,
        "y": 100,
        "width": 400,
        "height": 300,
        "color": "#e74c3c",
        "at": 7,
    }
    drawn = prepare_commands([plot])
    assert len(drawn) == 2  # the pole at 0 splits the curve
    for line in drawn:
        assert (line["type"], line["at"], line["color"]) == ("polyline", 7, "#e74c3c")
        assert all(100 <= x <= 500 and 100 <= y <= 400 for x, y in line["points"])
        COMMAND.validate_python(line)  # what is sent is itself a valid command


def test_axes_are_sent_with_their_ticks_where_they_go():
    (axes,) = prepare_commands(
        [{"type": "axes", "x_min": -5, "x_max": 5, "y_min": 0, "y_max": 100, "x": 60, "y": 40}]
    )
    x_ticks = {tick["label"]: tick["position"] for tick in axes["x_ticks"]}
    assert x_ticks["-5"] == 60 and x_ticks["0"] == 400 and x_ticks["5"] == 740
    y_ticks = {tick["label"]: tick["position"] for tick in axes["y_ticks"]}
    assert y_ticks["100"] == 40 and y_ticks["0"] == 560
    forged = prepare_commands(
        [{"type": "axes", "x_ticks": [{"value": 1, "position": 9999, "label": "x"}]}]
    )
    assert all(tick["position"] <= 740 for tick in forged[0]["x_ticks"])  # recomputed


def test_a_template_is_sent_as_the_plain_commands_it_draws():
    drawn = prepare_commands(
        [{"type": "template", "name": "fraction_bar", "at": 3}, {"type": "clear"}]
    )
    assert [command["type"] for command in drawn] == ["rectangle"] * 4 + ["latex", "clear"]
    assert {command["at"] for command in drawn[:5]} == {3}


def test_a_stored_command_that_is_no_longer_valid_loses_only_itself():
    drawn = prepare_commands(
        [{"type": "circle", "x": 1, "y": 1, "radius": 5}, {"type": "old_kind"}, {"type": "clear"}]
    )
    assert [command["type"] for command in drawn] == ["circle", "clear"]
