"""Plotting y = f(x) on the board, for the `function_plot` and `axes` canvas commands.

The expression comes from an author or a model, so it is never given to `eval`: it is parsed into
a Python AST, checked against a short list of allowed nodes, names and functions, and evaluated
by `simpleeval` restricted to arithmetic on numbers. The curve is sampled adaptively (more points
where it bends), split where it is undefined or jumps (1/x, tan x, log of negatives), clipped to
the view, and returned as polylines in board coordinates.
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from simpleeval import SimpleEval  # type: ignore[import-untyped]

MAX_EXPRESSION_CHARS = 200
MAX_DEPTH = 30
MAX_POINTS = 1_500
MAX_EXPONENT = 1_000
FIRST_SAMPLES = 96  # evenly spaced, then refined where the curve bends
MAX_REFINEMENT = 8  # halvings of one first interval


class ExpressionError(ValueError):
    """The expression is not one this plotter accepts (the message says why, in English)."""


def _log(value: float, base: float | None = None) -> float:
    return math.log(value) if base is None else math.log(value, base)


def _power(base: float, exponent: float) -> float:
    if abs(exponent) > MAX_EXPONENT:
        raise OverflowError("exponent too large")
    return operator.pow(base, exponent)


FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "exp": math.exp,
    "log": _log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sqrt": math.sqrt,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
}
# Spanish spellings authors use.
FUNCTIONS |= {"sen": math.sin, "tg": math.tan, "arcsen": math.asin, "arctan": math.atan}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLE = "x"

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: _power,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_ALLOWED_NODES = (ast.Expr, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Constant, ast.Load)
_ALLOWED_OPERATORS = tuple(_OPERATORS)

# What people write that Python does not: 2x, 3(x+1), (x+1)(x-1), x(x-1), x^2, unicode operators.
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*|\.\d+|\s+|.")


def _implicit_products(text: str) -> str:
    """Insert the `*` people leave out: after a number, a closing parenthesis or a variable,
    before a name, a number or an opening parenthesis (never between a function and its
    argument: log2(x) stays a call)."""
    out: list[str] = []
    previous = ""  # the last token that was not space
    for token in _TOKEN.findall(text):
        if token.isspace():
            out.append(token)
            continue
        ends_factor = (
            previous[:1].isdigit()
            or previous[:1] == "."
            or previous == ")"
            or (previous in CONSTANTS or previous == VARIABLE)
        )
        starts_factor = token[:1].isalpha() or token[:1] in "_(" or token[:1].isdigit()
        if ends_factor and starts_factor and not (previous[:1].isdigit() and token[:1].isdigit()):
            out.append("*")
        out.append(token)
        previous = token
    return "".join(out)


def _normalize(text: str) -> str:
    text = text.strip()
    for written, python in (("^", "**"), ("·", "*"), ("×", "*"), ("−", "-"), ("÷", "/")):
        text = text.replace(written, python)
    text = re.sub(r"^(?:y|f\(x\))\s*=\s*", "", text)  # "y = x^2" means x^2
    return _implicit_products(text)


@dataclass(frozen=True)
class Expression:
    """A checked expression in x; calling it gives f(x), or None where f is undefined."""

    text: str
    tree: ast.AST

    def __call__(self, x: float) -> float | None:
        evaluator = SimpleEval(
            operators=_OPERATORS, functions=FUNCTIONS, names={**CONSTANTS, VARIABLE: x}
        )
        try:
            value = evaluator.eval(self.text, previously_parsed=self.tree)
        except (ArithmeticError, ValueError, TypeError):
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        value = float(value)
        return value if math.isfinite(value) else None


def parse_expression(text: str) -> Expression:
    """Check an expression of x (x^2 - 3x + 2, sen(x)/x, 2^x, sqrt(4 - x^2)...)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    source = _normalize(text)
    try:
        module = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot read the expression: {text!r}") from exc
    if len(module.body) != 1 or not isinstance(module.body[0], ast.Expr):
        raise ExpressionError("only one expression of x is allowed")
    tree = module.body[0]
    _check(tree, depth=0)
    return Expression(source, tree)


def _check(node: ast.AST, *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError("the expression is nested too deeply")
    if isinstance(node, ast.operator | ast.unaryop):
        if not isinstance(node, _ALLOWED_OPERATORS):
            raise ExpressionError(f"operator {type(node).__name__} is not allowed")
        return
    if not isinstance(node, _ALLOWED_NODES):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.Constant) and (
        isinstance(node.value, bool) or not isinstance(node.value, int | float)
    ):
        raise ExpressionError("only numbers are allowed as constants")
    if isinstance(node, ast.Name) and node.id not in CONSTANTS and node.id != VARIABLE:
        raise ExpressionError(f"unknown name {node.id!r} (the variable is x)")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError("unknown function")
        arity = (1, 2) if node.func.id == "log" else (1,)
        if node.keywords or len(node.args) not in arity:
            raise ExpressionError(
                f"{node.func.id} takes {' or '.join(map(str, arity))} argument(s)"
            )
        for argument in node.args:
            _check(argument, depth=depth + 1)
        return
    for child in ast.iter_child_nodes(node):
        _check(child, depth=depth + 1)


# -- sampling ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """Which part of the plane is shown, and where on the board (pixels, origin top-left)."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    left: float = 60.0
    top: float = 40.0
    width: float = 680.0
    height: float = 520.0

    def __post_init__(self) -> None:
        if not (self.x_min < self.x_max and self.y_min < self.y_max):
            raise ExpressionError("the view needs x_min < x_max and y_min < y_max")
        if not all(math.isfinite(v) for v in (self.x_min, self.x_max, self.y_min, self.y_max)):
            raise ExpressionError("the view's limits must be finite numbers")
        if self.width <= 0 or self.height <= 0:
            raise ExpressionError("the view needs a positive width and height")

    def px(self, x: float, y: float) -> tuple[float, float]:
        return (
            self.left + (x - self.x_min) / (self.x_max - self.x_min) * self.width,
            self.top + (self.y_max - y) / (self.y_max - self.y_min) * self.height,
        )

    def py(self, y: float) -> float:
        return self.top + (self.y_max - y) / (self.y_max - self.y_min) * self.height


def sample(
    function: Callable[[float], float | None], view: View
) -> list[list[tuple[float, float]]]:
    """The curve y = f(x) over the view as polylines in board coordinates: one per continuous,
    visible piece, each with at least two points."""
    samples = _adaptive(function, view)
    pieces: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []

    def close() -> None:
        nonlocal current
        if len(current) >= 2:
            pieces.append(current)
        current = []

    finest = (view.x_max - view.x_min) / FIRST_SAMPLES / 2 ** (MAX_REFINEMENT - 1) * 1.01
    for (x0, y0), (x1, y1) in itertools.pairwise(samples):
        if y0 is None or y1 is None or _jumps(function, view, x0, y0, x1, y1, finest):
            close()
            continue
        visible = _clip(view, x0, y0, x1, y1)
        if visible is None:
            close()
            continue
        start, end, enters, leaves = visible
        if enters:
            close()
        if not current:
            current.append(start)
        current.append(end)
        if leaves:
            close()
    close()
    board = [_simplify(_dedupe([_round(view.px(x, y)) for x, y in piece])) for piece in pieces]
    return [piece for piece in board if len(piece) >= 2]


def _adaptive(
    function: Callable[[float], float | None], view: View
) -> list[tuple[float, float | None]]:
    xs = [
        view.x_min + (view.x_max - view.x_min) * i / FIRST_SAMPLES for i in range(FIRST_SAMPLES + 1)
    ]
    points = [(x, function(x)) for x in xs]
    budget = MAX_POINTS - len(points)

    def refine(a: tuple[float, float | None], b: tuple[float, float | None], depth: int) -> list:
        nonlocal budget
        if depth >= MAX_REFINEMENT or budget <= 0:
            return []
        xm = (a[0] + b[0]) / 2
        ym = function(xm)
        budget -= 1
        middle = (xm, ym)
        if a[1] is None and b[1] is None:
            return []
        if a[1] is None or b[1] is None or ym is None:
            # Where f stops (or starts) being defined: find the edge closely.
            return [*refine(a, middle, depth + 1), middle, *refine(middle, b, depth + 1)]
        if _off_chord(view.px(*a), view.px(*b), view.px(xm, ym)) <= 0.5:  # type: ignore[arg-type]
            return []
        return [*refine(a, middle, depth + 1), middle, *refine(middle, b, depth + 1)]

    refined: list[tuple[float, float | None]] = [points[0]]
    for a, b in itertools.pairwise(points):
        refined.extend(refine(a, b, 0))
        refined.append(b)
    return refined


def _off_chord(a: tuple[float, float], b: tuple[float, float], m: tuple[float, float]) -> float:
    """How far (pixels) the curve's midpoint is from the straight line between its ends."""
    (ax, ay), (bx, by), (mx, my) = a, b, m
    length = math.hypot(bx - ax, by - ay)
    if length == 0 or not math.isfinite(length):
        return math.hypot(mx - ax, my - ay) if math.isfinite(length) else math.inf
    return abs((bx - ax) * (ay - my) - (ax - mx) * (by - ay)) / length


def _jumps(
    function: Callable[[float], float | None],
    view: View,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    finest: float,
) -> bool:
    """A jump (a pole, a step) rather than a steep stretch. Between two samples that rise
    steeply (or more than the view's height), a continuous curve passes near the middle; a
    jump's midpoint sits on one side, off the chord, or is undefined."""
    rise = abs(view.py(y1) - view.py(y0))
    run = abs(view.px(x1, y1)[0] - view.px(x0, y0)[0])
    if rise < 2 or (rise < view.height and rise < 3 * run and x1 - x0 > finest):
        return False
    ym = function((x0 + x1) / 2)
    if ym is None or not (min(y0, y1) <= ym <= max(y0, y1)):
        return True
    return abs(view.py(ym) - (view.py(y0) + view.py(y1)) / 2) > 0.25 * rise


def _inside(view: View, y: float) -> bool:
    return view.y_min <= y <= view.y_max


def _clip(view: View, x0: float, y0: float, x1: float, y1: float):
    """The visible part of one segment: (start, end, enters the view, leaves it), or None."""
    low, high = view.y_min, view.y_max
    if (y0 < low and y1 < low) or (y0 > high and y1 > high):
        return None

    def cross(level: float) -> tuple[float, float]:
        return (x0 + (x1 - x0) * (level - y0) / (y1 - y0), level)

    enters, leaves = not _inside(view, y0), not _inside(view, y1)
    start = cross(low if y0 < low else high) if enters else (x0, y0)
    end = cross(low if y1 < low else high) if leaves else (x1, y1)
    return start, end, enters, leaves


def _round(point: tuple[float, float]) -> tuple[float, float]:
    return (round(point[0], 1), round(point[1], 1))


def _simplify(
    points: list[tuple[float, float]], tolerance: float = 0.3
) -> list[tuple[float, float]]:
    """Drop the points a straight stretch does not need (Ramer-Douglas-Peucker, iterative): a
    line is two points, not a hundred, on a student's phone."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = points[first], points[last]
        length = math.hypot(bx - ax, by - ay)
        farthest, distance = first, 0.0
        for index in range(first + 1, last):
            px, py = points[index]
            if length == 0:
                d = math.hypot(px - ax, py - ay)
            else:
                d = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if d > distance:
                farthest, distance = index, d
        if distance > tolerance:
            keep[farthest] = True
            stack.extend(((first, farthest), (farthest, last)))
    return [point for point, kept in zip(points, keep, strict=True) if kept]


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    kept: list[tuple[float, float]] = []
    for point in points:
        if not kept or kept[-1] != point:
            kept.append(point)
    return kept


# -- axes ----------------------------------------------------------------------------------------
def nice_ticks(low: float, high: float, *, target: int = 10) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        return []
    raw = (high - low) / max(1, target)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks: list[float] = []
    value = first * step
    while value <= high + step * 1e-9 and len(ticks) < 4 * target:
        ticks.append(round(value, 10) + 0.0)  # (+0.0 turns -0.0 into 0.0)
        value += step
    return ticks


def tick_label(value: float) -> str:
    """1, 0.5, -2.25; never 1.0000000002 or -0."""
    text = f"{value:.6g}"
    return "0" if text in {"-0", "0"} else text
