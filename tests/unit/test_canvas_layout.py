"""Layout before sending: labels kept on the board and off each other, and a clean board when a
step would write over earlier text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.models.canvas import BOARD_HEIGHT, BOARD_WIDTH
from app.utils.canvas_layout import _overlap, bounds, layout_steps, text_box


def label(x, y, text, size=20, **extra):
    return {"type": "text", "x": x, "y": y, "text": text, "font_size": size, **extra}


def test_text_is_measured_with_the_font_wider_for_more_and_bigger_letters():
    short, long = text_box("ab", 0, 100, 20, "left"), text_box("abcdefgh", 0, 100, 20, "left")
    big = text_box("ab", 0, 100, 40, "left")
    assert 0 < short[2] - short[0] < long[2] - long[0]
    assert big[2] - big[0] > 1.8 * (short[2] - short[0])
    low = text_box("ag", 0, 100, 20, "left")
    assert low[1] < 100 < low[3]  # ink above the baseline, and below it for a "g"
    centered = text_box("ab", 100, 100, 20, "center")
    assert abs((centered[0] + centered[2]) / 2 - 100) < 1


def test_a_label_off_the_board_is_moved_back_onto_it():
    (step,) = layout_steps([{"canvas": [label(790, 598, "esquina"), label(-50, 5, "arriba")]}])
    for command in step["canvas"]:
        box = bounds(command)
        assert box[0] >= 0 and box[2] <= BOARD_WIDTH and box[1] >= 0 and box[3] <= BOARD_HEIGHT


def test_a_circle_off_the_board_moves_inwards():
    (step,) = layout_steps([{"canvas": [{"type": "circle", "x": 790, "y": 10, "radius": 40}]}])
    box = bounds(step["canvas"][0])
    assert box[2] <= BOARD_WIDTH and box[1] >= 0


def test_labels_that_land_on_each_other_are_separated():
    (step,) = layout_steps([{"canvas": [label(100, 100, "A"), label(102, 104, "B encima")]}])
    first, second = (bounds(command) for command in step["canvas"])
    assert _overlap(first, second) == 0
    assert step["canvas"][1]["x"] == 102  # moved down, not sideways


def test_a_step_that_would_write_over_earlier_text_starts_with_a_clean_board():
    steps = layout_steps(
        [
            {
                "canvas": [
                    label(100, 100, "Primero"),
                    {"type": "line", "x1": 0, "y1": 0, "x2": 1, "y2": 1},
                ]
            },
            {"canvas": [label(100, 100, "Segundo"), label(400, 400, "aparte")]},
            {"canvas": [label(600, 500, "lejos de todo")]},
        ]
    )
    assert steps[1]["canvas"][0] == {"type": "clear", "at": 0}
    assert steps[1]["canvas"][1]["text"] == "Segundo" and steps[1]["canvas"][1]["y"] == 100
    assert steps[2]["canvas"][0]["type"] == "text"  # room enough: the board is kept


def test_shapes_may_overlap_a_curve_is_drawn_on_its_axes():
    axes = {
        "type": "axes",
        "x": 60,
        "y": 40,
        "width": 680,
        "height": 520,
        "x_min": -5,
        "x_max": 5,
        "y_min": -5,
        "y_max": 5,
    }
    curve = {"type": "polyline", "points": [[100, 500], [400, 100], [700, 500]]}
    steps = layout_steps([{"canvas": [axes]}, {"canvas": [curve]}])
    assert steps[1]["canvas"] == [curve]


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(
        st.tuples(
            st.integers(-100, 900),
            st.integers(-100, 700),
            st.text("abcxyz ", min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_labels_always_end_on_the_board(labels):
    (step,) = layout_steps(
        [{"canvas": [label(x, y, text) for x, y, text in labels if text.strip()]}]
    )
    for command in step["canvas"]:
        box = bounds(command)
        assert box[0] >= -0.5 and box[2] <= BOARD_WIDTH + 0.5
        assert box[1] >= -0.5 and box[3] <= BOARD_HEIGHT + 0.5
