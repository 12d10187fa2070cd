"""function_plot: a safe expression parser and the curve sampled into polylines on the board."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.utils.function_plot import (
    ExpressionError,
    View,
    nice_ticks,
    parse_expression,
    sample,
    tick_label,
)

VIEW = View(-5, 5, -5, 5)  # on the board: x 60..740, y 40..560


@pytest.mark.parametrize(
    ("written", "x", "expected"),
    [
        ("x^2 - 3x + 2", 4, 6),
        ("2(x+1)", 1, 4),
        ("(x+1)(x-1)", 3, 8),
        ("y = 2x + 1", 2, 5),
        ("f(x) = x^3", 2, 8),
        ("sen(x)/x", math.pi / 2, 2 / math.pi),
        ("sqrt(4 − x^2)", 0, 2),
        ("log(8, 2) + ln(e)", 0, 4),
        ("2^x", 10, 1024),
        ("abs(x) · 3", -2, 6),
        ("3pi + x", 1, 3 * math.pi + 1),
        ("log2(x) + log10(100)", 8, 5),
        ("x(x - 1)", 3, 6),
        ("1.5x", 2, 3),
    ],
)
def test_expressions_are_read_as_people_write_them(written, x, expected):
    assert parse_expression(written)(x) == pytest.approx(expected)


@pytest.mark.parametrize(
    "hostile",
    [
        "__import__('os').system('touch {marker}')",
        "open('{marker}', 'w')",
        "x.__class__",
        "[x for x in range(10**9)]",
        "lambda: 1",
        "a + 1",
        "'texto'",
        "x if x else 1",
        "x; x",
        "sin(x, y=1)",
        "sin(x, 2)",
        "x == 1",
        "",
        "   ",
        "(" * 150 + "x" + ")" * 150,
        "x" * 201,
        "True + x",
    ],
)
def test_anything_but_arithmetic_of_x_is_refused_without_running_it(hostile, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ExpressionError):
        parse_expression(hostile.replace("{marker}", str(marker)))
    assert not marker.exists()


@pytest.mark.parametrize("undefined_at", ["1/x", "log(x)", "sqrt(x)", "tan(x)", "x**10**10"])
def test_undefined_values_are_none_never_an_exception(undefined_at):
    value = parse_expression(undefined_at)(0.0 if "tan" not in undefined_at else math.pi / 2)
    assert value is None or math.isfinite(value)
    assert parse_expression("x**10**10")(2.0) is None  # an absurd power is refused, not computed


def pieces(expression: str, view: View = VIEW):
    return sample(parse_expression(expression), view)


def test_a_parabola_is_one_piece_clipped_to_the_view():
    (curve,) = pieces("x^2 - 3x + 2")
    assert all(60 <= x <= 740 and 40 <= y <= 560 for x, y in curve)
    assert curve[0][1] == 40.0 and curve[-1][1] == 40.0  # leaves through the top edge
    # The vertex (1.5, -0.25) is on it: x = 60 + 6.5/10*680 = 502, y = 300 + 0.25*52 = 313.
    assert min(curve, key=lambda p: abs(p[0] - 502.0))[1] == pytest.approx(313.0, abs=1.0)


def test_poles_and_steps_split_the_curve():
    assert len(pieces("1/x")) == 2
    assert all(x < 400 for x, _ in pieces("1/x")[0]) and all(x > 400 for x, _ in pieces("1/x")[1])
    assert len(pieces("tan(x)")) == 5  # poles at ±π/2 and ±3π/2 within [-5, 5]
    steps = pieces("floor(x)")
    assert len(steps) == 10 and all(len(step) == 2 and step[0][1] == step[1][1] for step in steps)


def test_a_curve_defined_on_part_of_the_view_starts_and_ends_at_its_edges():
    (circle,) = pieces("sqrt(4 - x^2)")  # x in [-2, 2] → board x in [264, 536]
    assert circle[0][0] == pytest.approx(264, abs=1.5) and circle[-1][0] == pytest.approx(
        536, abs=1.5
    )


def test_straight_stretches_need_few_points():
    assert len(pieces("2x + 1")[0]) == 2
    assert len(pieces("abs(x)")[0]) == 3


COEFFICIENTS = st.integers(min_value=-4, max_value=4)
VIEWS = st.builds(
    lambda x0, w, y0, h: View(x0, x0 + w, y0, y0 + h),
    st.integers(-20, 10),
    st.integers(1, 30),
    st.integers(-50, 20),
    st.integers(1, 100),
)


@settings(max_examples=150, deadline=None)
@given(a=COEFFICIENTS, b=COEFFICIENTS, c=COEFFICIENTS, view=VIEWS)
def test_a_polynomial_is_drawn_on_the_view_and_through_its_true_points(a, b, c, view):
    function = parse_expression(f"({a})x^3 + ({b})x^2 + ({c})x + 1")
    drawn = sample(function, view)
    for piece in drawn:
        for x, y in piece:
            assert view.left - 0.1 <= x <= view.left + view.width + 0.1
            assert view.top - 0.1 <= y <= view.top + view.height + 0.1
    # Wherever the true curve is well inside the view, the drawing passes within 1.5 px of it.
    for i in range(1, 40):
        x = view.x_min + (view.x_max - view.x_min) * i / 40
        y = function(x)
        if y is None or not (view.y_min < y < view.y_max):
            continue
        px, py = view.px(x, y)
        if min(py - view.top, view.top + view.height - py) < 3:
            continue
        assert any(_near(piece, px, py) for piece in drawn), (x, y)


def _near(piece, px, py) -> bool:
    """Within 1.5 px of the polyline (distance to its nearest segment)."""
    for (ax, ay), (bx, by) in itertools.pairwise(piece):
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
        t = max(0.0, min(1.0, t))
        if math.hypot(ax + t * dx - px, ay + t * dy - py) <= 1.5:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(low=st.floats(-1e6, 1e6), span=st.floats(1e-3, 1e6))
def test_ticks_are_round_evenly_spaced_and_inside_the_range(low, span):
    high = low + span
    ticks = nice_ticks(low, high)
    assert 4 <= len(ticks) <= 40
    assert all(low - 1e-6 * span <= t <= high + 1e-6 * span for t in ticks)
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-4) for m in (1, 2, 5, 10))  # (float noise)
    assert max(steps) - min(steps) <= 1e-6 * step + 1e-12 * max(abs(low), abs(high), 1)


def test_tick_labels_are_short():
    assert [tick_label(v) for v in nice_ticks(-1, 1)][:3] == ["-1", "-0.8", "-0.6"]
    assert tick_label(-0.0) == "0" and tick_label(0.1 + 0.2) == "0.3"


def test_a_view_must_make_sense():
    for bad in ((1, 1, 0, 1), (0, 1, 2, 1), (0, math.inf, 0, 1)):
        with pytest.raises(ExpressionError):
            View(*bad)
