"""The canvas library's templates: each expands into plain commands that lie on the board and
inside the box it was given, for its defaults and for any sane parameters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.models.canvas import BOARD_HEIGHT, BOARD_WIDTH, CanvasCommand
from app.utils.canvas_commands import prepare_commands
from app.utils.canvas_templates import TEMPLATES, TemplateError, expand

COMMAND = TypeAdapter(CanvasCommand)


def raw_points(command: dict) -> list[tuple[float, float]]:
    """Every position a command puts ink at, before any clamping."""
    kind = command["type"]
    if kind in ("line", "arrow"):
        return [(command["x1"], command["y1"]), (command["x2"], command["y2"])]
    if kind in ("polygon", "polyline"):
        return [tuple(point) for point in command["points"]]
    if kind in ("rectangle", "highlight", "axes", "function_plot"):
        x, y = command["x"], command["y"]
        return [(x, y), (x + command["width"], y + command["height"])]
    if kind == "circle":
        x, y, r = command["x"], command["y"], command["radius"]
        return [(x - r, y - r), (x + r, y + r)]
    return [(command["x"], command["y"])]


def test_there_are_at_least_twelve_templates_across_subjects():
    assert len(TEMPLATES) >= 12
    assert {t.category for t in TEMPLATES.values()} >= {
        "algebra", "aritmetica", "geometria", "trigonometria", "fisica", "estadistica", "calculo",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_draws_on_the_board_with_its_defaults(name):
    drawing = expand(name, {})
    assert drawing
    for command in drawing:
        COMMAND.validate_python(command)
        for x, y in raw_points(command):
            assert -1 <= x <= BOARD_WIDTH + 1 and -1 <= y <= BOARD_HEIGHT + 1, (command, x, y)
    sent = prepare_commands([{"type": "template", "name": name, "at": 4}])
    assert sent and all(command["at"] == 4 for command in sent)
    assert all(command["type"] not in ("template", "function_plot") for command in sent)


BOXES = st.tuples(
    st.integers(0, 400), st.integers(0, 300), st.integers(150, 400), st.integers(150, 300)
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(TEMPLATES)), box=BOXES)
def test_a_template_stays_inside_the_box_it_is_given(name, box):
    x, y, width, height = box
    for command in expand(name, {"x": x, "y": y, "width": width, "height": height}):
        if command["type"] in ("text", "latex"):
            continue  # labels sit beside what they name
        for px, py in raw_points(command):
            assert x - 2 <= px <= x + width + 2 and y - 2 <= py <= y + height + 2, (command, px)


@settings(max_examples=80, deadline=None)
@given(
    angle=st.floats(5, 75),
    a=st.floats(0.1, 1000),
    b=st.floats(0.1, 1000),
    coefficients=st.tuples(st.floats(-10, 10), st.floats(-50, 50), st.floats(-50, 50)),
)
def test_parameters_anywhere_in_their_range_still_draw(angle, a, b, coefficients):
    expand("inclined_plane", {"angle": angle})
    expand("right_triangle", {"a": a, "b": b})
    qa, qb, qc = coefficients
    if abs(qa) > 1e-3:
        for command in prepare_commands(
            [{"type": "template", "name": "parabola", "params": {"a": qa, "b": qb, "c": qc}}]
        ):
            COMMAND.validate_python(command)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("hologram", {}),
        ("unit_circle", {"angle": "treinta"}),
        ("unit_circle", {"angle": 1e9}),
        ("unit_circle", {"radius": 3}),
        ("unit_circle", {"angle": float("nan")}),
        ("bar_chart", {"values": list(range(100))}),
        ("bar_chart", {"labels": ["x" * 100]}),
        ("fraction_bar", {"numerator": 5, "denominator": 4}),
        ("parabola", {"a": 0}),
        ("triangle", {"vertices": [[0, 0], [1, 1], [2, 2]]}),
        ("venn_diagram", {"sets": 7}),
        ("free_body", {"forces": [["F", 0]]}),
    ],
)
def test_bad_parameters_are_refused_when_the_document_is_checked(name, params):
    with pytest.raises(TemplateError):
        expand(name, params)
    with pytest.raises(ValidationError):
        COMMAND.validate_python({"type": "template", "name": name, "params": params})
