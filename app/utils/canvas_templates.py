"""Named, parameterized drawings of the canvas library: a step writes
`{"type": "template", "name": "unit_circle", "params": {"angle": 60}}` and the server expands it
into plain canvas commands before the lesson is sent.

Each template draws inside a box of the board (`x, y, width, height`, by default the board less
its margins) and takes a few parameters, each with a type, a default and bounds. The
`canvas_library` table lists the same templates (name, category, tags, parameters and their
defaults) and counts how often each is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.utils.function_plot import nice_ticks, parse_expression, tick_label

INK = "#2c3e50"
ACCENT = "#e74c3c"
BLUE = "#2980b9"
GREEN = "#27ae60"
ORANGE = "#e67e22"
SOFT = "#95a5a6"
PALETTE = (BLUE, GREEN, ORANGE, ACCENT, "#8e44ad", "#16a085", "#d35400", "#2c3e50")  # charts


class TemplateError(ValueError):
    """A template that does not exist, or parameters it cannot take."""


@dataclass(frozen=True)
class Param:
    kind: str  # number, integer, text, bool, numbers, texts, vector, forces
    default: Any
    low: float | None = None
    high: float | None = None
    max_items: int = 8


@dataclass(frozen=True)
class Template:
    name: str
    category: str
    description: str
    params: dict[str, Param]
    draw: Callable[[dict[str, Any], Box], list[dict[str, Any]]]
    tags: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


BOX_PARAMS = {
    "x": Param("number", 60, 0, 780),
    "y": Param("number", 40, 0, 580),
    "width": Param("number", 680, 20, 800),
    "height": Param("number", 520, 20, 600),
}


# -- small drawing helpers -----------------------------------------------------------------------
def _line(x1, y1, x2, y2, color=INK, **extra) -> dict[str, Any]:
    return {"type": "line", "x1": x1, "y1": y1, "x2": x2, "y2": y2, "color": color, **extra}


def _arrow(x1, y1, x2, y2, color=INK, **extra) -> dict[str, Any]:
    return {"type": "arrow", "x1": x1, "y1": y1, "x2": x2, "y2": y2, "color": color, **extra}


def _text(x, y, text, color=INK, size=18, **extra) -> dict[str, Any]:
    return {
        "type": "text",
        "x": x,
        "y": y,
        "text": str(text)[:300],
        "color": color,
        "font_size": size,
        **extra,
    }


def _dot(x, y, color=ACCENT, radius=5) -> dict[str, Any]:
    return {"type": "circle", "x": x, "y": y, "radius": radius, "color": color, "fill": color}


def _r(value: float) -> float:
    return round(value, 1)


def _fit(
    points: list[tuple[float, float]], box: Box, margin: float = 0.12
) -> Callable[[float, float], tuple[float, float]]:
    """A function mapping plane points (y up) into the box, keeping proportions."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    span_x, span_y = max(xs) - min(xs) or 1.0, max(ys) - min(ys) or 1.0
    usable_w, usable_h = box.width * (1 - 2 * margin), box.height * (1 - 2 * margin)
    scale = min(usable_w / span_x, usable_h / span_y)
    ox = box.x + (box.width - span_x * scale) / 2 - min(xs) * scale
    oy = box.y + (box.height + span_y * scale) / 2 + min(ys) * scale
    return lambda px, py: (_r(ox + px * scale), _r(oy - py * scale))


# -- the templates -------------------------------------------------------------------------------
def _cartesian_axes(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    return [
        {
            "type": "axes",
            "x": box.x,
            "y": box.y,
            "width": box.width,
            "height": box.height,
            "x_min": p["x_min"],
            "x_max": p["x_max"],
            "y_min": p["y_min"],
            "y_max": p["y_max"],
            "grid": p["grid"],
            "x_label": p["x_label"],
            "y_label": p["y_label"],
        }
    ]


def _number_line(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    low, high = p["min"], p["max"]
    if low >= high:
        raise TemplateError("number_line needs min < max")
    y = box.cy
    left, right = box.x + 20, box.x + box.width - 20

    def at(v: float) -> float:
        return _r(left + (v - low) / (high - low) * (right - left))

    commands = [_arrow(box.x, y, box.x + box.width, y, head_size=10)]
    for value in nice_ticks(low, high, target=10):
        commands.append(_line(at(value), y - 8, at(value), y + 8))
        commands.append(_text(at(value), y + 32, tick_label(value), size=16, align="center"))
    for value in p["points"]:
        if low <= value <= high:
            commands.append(_dot(at(value), y))
            commands.append(_text(at(value), y - 22, tick_label(value), ACCENT, 16, align="center"))
    return commands


def _unit_circle(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    radius = min(box.width, box.height) * 0.38
    reach = min(30.0, min(box.width, box.height) * 0.1)  # the axes pass the circle by this
    cx, cy = _r(box.cx), _r(box.cy)
    theta = math.radians(p["angle"])
    px, py = _r(cx + radius * math.cos(theta)), _r(cy - radius * math.sin(theta))
    commands = [
        _arrow(cx - radius - reach, cy, cx + radius + reach, cy, SOFT),
        _arrow(cx, cy + radius + reach, cx, cy - radius - reach, SOFT),
        {"type": "circle", "x": cx, "y": cy, "radius": _r(radius), "color": INK},
        _line(cx, cy, px, py, BLUE, stroke_width=3),
        _line(px, py, px, cy, GREEN, dashed=True),
        _line(px, py, cx, py, ORANGE, dashed=True),
        _dot(px, py),
        # The angle's label sits inside the angle, on its bisector.
        _text(
            _r(cx + 48 * math.cos(theta / 2)),
            _r(cy - 48 * math.sin(theta / 2) + 6),
            f"{tick_label(p['angle'])}°",
            ACCENT,
            16,
            align="center",
        ),
    ]
    if p["show_values"]:
        commands += [
            # Each value beside its own segment, on the side away from the point.
            _text(
                px,
                cy + (24 if py <= cy else -12),
                f"cos = {math.cos(theta):.2f}",
                GREEN,
                16,
                align="center",
            ),
            _text(
                cx + (12 if px < cx else -12),
                py + 5,
                f"sen = {math.sin(theta):.2f}",
                ORANGE,
                16,
                align="left" if px < cx else "right",
            ),
        ]
    return commands


def _right_triangle(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    a, b = p["a"], p["b"]  # legs: a vertical, b horizontal
    to = _fit([(0, 0), (b, 0), (0, a)], box)
    (x0, y0), (x1, y1), (x2, y2) = to(0, 0), to(b, 0), to(0, a)
    mark = min(18.0, abs(x1 - x0) / 4, abs(y0 - y2) / 4)
    labels = p["labels"] + ["", "", ""]
    return [
        {
            "type": "polygon",
            "points": [[x0, y0], [x1, y1], [x2, y2]],
            "color": INK,
            "fill": "#3498db22",
        },
        {
            "type": "polyline",
            "points": [[x0 + mark, y0], [x0 + mark, y0 - mark], [x0, y0 - mark]],
            "color": INK,
            "stroke_width": 1.5,
        },
        _text(x0 - 14, (y0 + y2) / 2, labels[0] or tick_label(a), BLUE, align="right"),
        _text((x0 + x1) / 2, y0 + 28, labels[1] or tick_label(b), BLUE, align="center"),
        _text((x1 + x2) / 2 + 14, (y1 + y2) / 2 - 10, labels[2] or "c", ACCENT),
    ]


def _vector_addition(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    (ux, uy), (vx, vy) = p["u"], p["v"]
    to = _fit([(0, 0), (ux, uy), (ux + vx, uy + vy), (vx, vy)], box)
    o, u, s, v = to(0, 0), to(ux, uy), to(ux + vx, uy + vy), to(vx, vy)
    return [
        _arrow(*o, *u, BLUE, stroke_width=3),
        _arrow(*u, *s, GREEN, stroke_width=3),
        _line(*o, *v, SOFT, dashed=True),
        _line(*v, *s, SOFT, dashed=True),
        _arrow(*o, *s, ACCENT, stroke_width=3),
        _text((o[0] + u[0]) / 2 - 10, (o[1] + u[1]) / 2 - 12, "u", BLUE, 20, bold=True),
        _text((u[0] + s[0]) / 2 + 10, (u[1] + s[1]) / 2, "v", GREEN, 20, bold=True),
        _text((o[0] + s[0]) / 2 + 12, (o[1] + s[1]) / 2 + 18, "u + v", ACCENT, 20, bold=True),
    ]


def _free_body(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    size = min(box.width, box.height) * 0.18
    cx, cy = box.cx, box.cy
    reach = min(box.width, box.height) * 0.42
    commands: list[dict[str, Any]] = [
        {
            "type": "rectangle",
            "x": _r(cx - size / 2),
            "y": _r(cy - size / 2),
            "width": _r(size),
            "height": _r(size),
            "color": INK,
            "fill": "#ecf0f1",
        },
        _text(cx, cy + 6, p["body"], INK, 16, align="center"),
    ]
    strongest = max((force[2] for force in p["forces"]), default=1) or 1
    for label, angle, magnitude in p["forces"]:
        length = size / 2 + (reach - size / 2) * max(0.25, magnitude / strongest)
        theta = math.radians(angle)
        ex, ey = _r(cx + length * math.cos(theta)), _r(cy - length * math.sin(theta))
        commands.append(_arrow(_r(cx), _r(cy), ex, ey, ACCENT, stroke_width=3))
        commands.append(
            _text(
                _r(ex + 16 * math.cos(theta)),
                _r(ey - 16 * math.sin(theta)),
                label,
                ACCENT,
                18,
                align="center",
            )
        )
    return commands


def _inclined_plane(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    theta = math.radians(p["angle"])
    base = box.width * 0.8
    rise = min(base * math.tan(theta), box.height * 0.75)
    base = rise / math.tan(theta)
    x0, y0 = box.x + (box.width - base) / 2, box.y + box.height * 0.9
    x1, y1 = x0 + base, y0
    x2, y2 = x1, y0 - rise
    # A block on the slope, halfway up.
    side = min(70.0, base * 0.18)
    mx, my = (x0 + x2) / 2, (y0 + y2) / 2
    along, normal = (math.cos(theta), -math.sin(theta)), (-math.sin(theta), -math.cos(theta))
    corners = [
        (mx - along[0] * side / 2, my - along[1] * side / 2),
        (mx + along[0] * side / 2, my + along[1] * side / 2),
        (mx + along[0] * side / 2 + normal[0] * side, my + along[1] * side / 2 + normal[1] * side),
        (mx - along[0] * side / 2 + normal[0] * side, my - along[1] * side / 2 + normal[1] * side),
    ]
    bx, by = mx + normal[0] * side / 2, my + normal[1] * side / 2
    commands: list[dict[str, Any]] = [
        {
            "type": "polygon",
            "points": [[_r(x0), _r(y0)], [_r(x1), _r(y1)], [_r(x2), _r(y2)]],
            "color": INK,
            "fill": "#f5f0e1",
        },
        {
            "type": "polygon",
            "points": [[_r(a), _r(b)] for a, b in corners],
            "color": INK,
            "fill": "#3498db55",
        },
        _text(x0 + 46, y0 - 10, f"{tick_label(p['angle'])}°", ACCENT, 16),
    ]
    if p["forces"]:
        g = side * 1.4
        commands += [
            _arrow(_r(bx), _r(by), _r(bx), _r(by + g), ACCENT, stroke_width=3),
            _text(_r(bx + 10), _r(by + g), "P", ACCENT, 18),
            _arrow(
                _r(bx),
                _r(by),
                _r(bx + normal[0] * g),
                _r(by + normal[1] * g),
                GREEN,
                stroke_width=3,
            ),
            _text(_r(bx + normal[0] * g - 18), _r(by + normal[1] * g), "N", GREEN, 18),
            # Friction holds the block back: up the slope.
            _arrow(
                _r(bx),
                _r(by),
                _r(bx + along[0] * g * 0.7),
                _r(by + along[1] * g * 0.7),
                ORANGE,
                stroke_width=3,
            ),
            _text(
                _r(bx + along[0] * g * 0.7 + 6), _r(by + along[1] * g * 0.7 - 10), "f", ORANGE, 18
            ),
        ]
    return commands


def _parabola(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    a, b, c = p["a"], p["b"], p["c"]
    if a == 0:
        raise TemplateError("parabola needs a != 0")
    vx = -b / (2 * a)
    vy = c - b * b / (4 * a)
    disc = b * b - 4 * a * c
    roots = (
        sorted({(-b - math.sqrt(disc)) / (2 * a), (-b + math.sqrt(disc)) / (2 * a)})
        if disc >= 0
        else []
    )
    xs = [vx - 4, vx + 4, *roots, 0]
    x_min, x_max = math.floor(min(xs)) - 1, math.ceil(max(xs)) + 1
    ys = [a * x * x + b * x + c for x in (x_min, x_max)] + [vy, 0]
    y_min, y_max = math.floor(min(ys)) - 1, math.ceil(max(ys)) + 1
    view = {
        "x": box.x,
        "y": box.y,
        "width": box.width,
        "height": box.height,
        "x_min": x_min,
        "x_max": x_max,
        "y_min": y_min,
        "y_max": y_max,
    }

    def px(x: float, y: float) -> tuple[float, float]:
        return (
            _r(box.x + (x - x_min) / (x_max - x_min) * box.width),
            _r(box.y + (y_max - y) / (y_max - y_min) * box.height),
        )

    expr = f"({a})*x^2 + ({b})*x + ({c})"
    parse_expression(expr)
    commands: list[dict[str, Any]] = [
        {"type": "axes", **view},
        {"type": "function_plot", "expr": expr, **view, "color": BLUE, "stroke_width": 3},
        _dot(*px(vx, vy), ACCENT),
        _text(
            px(vx, vy)[0] + 10,
            px(vx, vy)[1] + (24 if a > 0 else -14),
            f"V({tick_label(round(vx, 2))}, {tick_label(round(vy, 2))})",
            ACCENT,
            16,
        ),
    ]
    for root in roots:
        commands.append(_dot(*px(root, 0), GREEN))
        commands.append(
            _text(
                px(root, 0)[0],
                px(root, 0)[1] - 14,
                tick_label(round(root, 2)),
                GREEN,
                16,
                align="center",
            )
        )
    return commands


def _bar_chart(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    labels, values = p["labels"], p["values"]
    count = min(len(labels), len(values))
    if count == 0:
        raise TemplateError("bar_chart needs labels and values")
    top = max(max(values[:count]), 0) or 1
    ticks = nice_ticks(0, top, target=5)
    scale_top = max(ticks[-1], top) if ticks else top
    left, bottom = box.x + 50, box.y + box.height - 40
    plot_h, plot_w = box.height - 80, box.width - 70
    commands: list[dict[str, Any]] = [
        _line(left, bottom, left + plot_w, bottom),
        _line(left, bottom, left, bottom - plot_h),
    ]
    for value in ticks:
        y = _r(bottom - value / scale_top * plot_h)
        commands.append(_line(left - 6, y, left, y))
        commands.append(_text(left - 10, y + 5, tick_label(value), INK, 14, align="right"))
    slot = plot_w / count
    for i in range(count):
        height = max(0.0, values[i]) / scale_top * plot_h
        x = left + slot * i + slot * 0.15
        commands.append(
            {
                "type": "rectangle",
                "x": _r(x),
                "y": _r(bottom - max(height, 1)),
                "width": _r(slot * 0.7),
                "height": _r(max(height, 1)),
                "color": PALETTE[i % len(PALETTE)],
                "fill": PALETTE[i % len(PALETTE)],
            }
        )
        commands.append(_text(_r(x + slot * 0.35), bottom + 22, labels[i], INK, 14, align="center"))
    if p["title"]:
        commands.append(_text(box.cx, box.y + 18, p["title"], INK, 18, align="center", bold=True))
    return commands


def _venn_diagram(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    labels = (p["labels"] + ["A", "B", "C"])[: p["sets"]]
    radius = min(box.width, box.height) * (0.28 if p["sets"] == 2 else 0.25)
    cx, cy = box.cx, box.cy
    if p["sets"] == 2:
        centers = [(cx - radius * 0.6, cy), (cx + radius * 0.6, cy)]
    else:
        centers = [
            (cx - radius * 0.6, cy - radius * 0.4),
            (cx + radius * 0.6, cy - radius * 0.4),
            (cx, cy + radius * 0.6),
        ]
    fills = ["#3498db33", "#e74c3c33", "#2ecc7133"]
    commands: list[dict[str, Any]] = [
        {
            "type": "rectangle",
            "x": box.x + 10,
            "y": box.y + 10,
            "width": box.width - 20,
            "height": box.height - 20,
            "color": SOFT,
        },
        _text(box.x + 24, box.y + 36, p["universe"], SOFT, 16),
    ]
    for (x, y), label, fill in zip(centers, labels, fills, strict=False):
        commands.append(
            {
                "type": "circle",
                "x": _r(x),
                "y": _r(y),
                "radius": _r(radius),
                "color": INK,
                "fill": fill,
            }
        )
        dx, dy = x - cx, y - cy
        norm = math.hypot(dx, dy) or 1
        commands.append(
            _text(
                _r(x + dx / norm * radius * 0.55),
                _r(y + dy / norm * radius * 0.55),
                label,
                INK,
                18,
                align="center",
                bold=True,
            )
        )
    return commands


def _triangle(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    points = [(float(point[0]), float(point[1])) for point in p["vertices"] if len(point) == 2][:3]
    if len(points) != 3:
        raise TemplateError("triangle needs three vertices")
    (ax, ay), (bx, by), (cx, cy) = points
    if abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) < 1e-9:
        raise TemplateError("the three vertices are on one line")
    to = _fit(points, box)
    corners = [to(x, y) for x, y in points]
    gx, gy = sum(c[0] for c in corners) / 3, sum(c[1] for c in corners) / 3
    names = (p["names"] + ["A", "B", "C"])[:3]
    commands: list[dict[str, Any]] = [
        {
            "type": "polygon",
            "points": [list(c) for c in corners],
            "color": INK,
            "fill": "#f1c40f22",
        },
    ]
    for (x, y), name in zip(corners, names, strict=True):
        dx, dy = x - gx, y - gy
        norm = math.hypot(dx, dy) or 1
        commands.append(_dot(x, y, INK, 4))
        commands.append(
            _text(
                _r(x + dx / norm * 22),
                _r(y + dy / norm * 22 + 6),
                name,
                ACCENT,
                20,
                align="center",
                bold=True,
            )
        )
    return commands


def _fraction_bar(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    numerator, denominator = p["numerator"], p["denominator"]
    if not 0 <= numerator <= denominator:
        raise TemplateError("fraction_bar needs 0 <= numerator <= denominator")
    height = min(80.0, box.height * 0.3)
    y = box.cy - height / 2
    part = box.width / denominator
    commands: list[dict[str, Any]] = []
    for i in range(denominator):
        filled = i < numerator
        commands.append(
            {
                "type": "rectangle",
                "x": _r(box.x + part * i),
                "y": _r(y),
                "width": _r(part),
                "height": _r(height),
                "color": INK,
                "fill": BLUE if filled else "#ffffff",
            }
        )
    commands.append(
        {
            "type": "latex",
            "x": _r(box.cx),
            "y": _r(y + height + 40),
            "latex": f"\\frac{{{numerator}}}{{{denominator}}}",
            "font_size": 30,
        }
    )
    return commands


def _pie_chart(p: dict[str, Any], box: Box) -> list[dict[str, Any]]:
    labels, values = p["labels"], p["values"]
    count = min(len(labels), len(values))
    total = sum(max(0.0, v) for v in values[:count])
    if count == 0 or total <= 0:
        raise TemplateError("pie_chart needs positive values")
    radius = min(box.width, box.height) * 0.36
    cx, cy = box.cx, box.cy
    commands: list[dict[str, Any]] = []
    start = 90.0
    for i in range(count):
        sweep = 360 * max(0.0, values[i]) / total
        steps = max(2, int(sweep / 6))
        arc = [
            [
                _r(cx + radius * math.cos(math.radians(start - sweep * k / steps))),
                _r(cy - radius * math.sin(math.radians(start - sweep * k / steps))),
            ]
            for k in range(steps + 1)
        ]
        commands.append(
            {
                "type": "polygon",
                "points": [[_r(cx), _r(cy)], *arc],
                "color": "#ffffff",
                "fill": PALETTE[i % len(PALETTE)],
            }
        )
        middle = math.radians(start - sweep / 2)
        commands.append(
            _text(
                _r(cx + radius * 1.18 * math.cos(middle)),
                _r(cy - radius * 1.18 * math.sin(middle)),
                f"{labels[i]} ({100 * values[i] / total:.0f} %)",
                INK,
                14,
                align="center",
            )
        )
        start -= sweep
    return commands


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template(
            "cartesian_axes",
            "calculo",
            "Ejes cartesianos con marcas y cuadrícula opcional",
            {
                "x_min": Param("number", -10, -1e6, 1e6),
                "x_max": Param("number", 10, -1e6, 1e6),
                "y_min": Param("number", -10, -1e6, 1e6),
                "y_max": Param("number", 10, -1e6, 1e6),
                "grid": Param("bool", True),
                "x_label": Param("text", "x"),
                "y_label": Param("text", "y"),
            },
            _cartesian_axes,
            ("funciones", "gráficas"),
        ),
        Template(
            "number_line",
            "aritmetica",
            "Recta numérica con puntos marcados",
            {
                "min": Param("number", -5, -1e6, 1e6),
                "max": Param("number", 5, -1e6, 1e6),
                "points": Param("numbers", []),
            },
            _number_line,
            ("enteros", "intervalos"),
        ),
        Template(
            "unit_circle",
            "trigonometria",
            "Circunferencia unitaria con un ángulo",
            {"angle": Param("number", 30, -720, 720), "show_values": Param("bool", True)},
            _unit_circle,
            ("seno", "coseno", "ángulos"),
        ),
        Template(
            "right_triangle",
            "geometria",
            "Triángulo rectángulo con sus lados rotulados",
            {
                "a": Param("number", 3, 0.01, 1e6),
                "b": Param("number", 4, 0.01, 1e6),
                "labels": Param("texts", []),
            },
            _right_triangle,
            ("pitágoras", "trigonometría"),
        ),
        Template(
            "vector_addition",
            "fisica",
            "Suma de vectores por la regla del paralelogramo",
            {"u": Param("vector", [3, 1]), "v": Param("vector", [1, 2])},
            _vector_addition,
            ("vectores",),
        ),
        Template(
            "free_body",
            "fisica",
            "Diagrama de cuerpo libre con sus fuerzas",
            {"body": Param("text", "m"), "forces": Param("forces", [["P", 270, 1], ["N", 90, 1]])},
            _free_body,
            ("fuerzas", "newton"),
        ),
        Template(
            "inclined_plane",
            "fisica",
            "Plano inclinado con un bloque y sus fuerzas",
            {"angle": Param("number", 30, 5, 75), "forces": Param("bool", True)},
            _inclined_plane,
            ("fuerzas", "rozamiento"),
        ),
        Template(
            "parabola",
            "algebra",
            "Parábola y = ax² + bx + c con vértice y raíces",
            {
                "a": Param("number", 1, -100, 100),
                "b": Param("number", -2, -1000, 1000),
                "c": Param("number", -3, -1000, 1000),
            },
            _parabola,
            ("cuadrática", "raíces"),
        ),
        Template(
            "bar_chart",
            "estadistica",
            "Gráfico de barras",
            {
                "labels": Param("texts", ["A", "B", "C"]),
                "values": Param("numbers", [3, 5, 2]),
                "title": Param("text", ""),
            },
            _bar_chart,
            ("frecuencias",),
        ),
        Template(
            "venn_diagram",
            "estadistica",
            "Diagrama de Venn de dos o tres conjuntos",
            {
                "sets": Param("integer", 2, 2, 3),
                "labels": Param("texts", ["A", "B"]),
                "universe": Param("text", "U"),
            },
            _venn_diagram,
            ("conjuntos", "probabilidad"),
        ),
        Template(
            "triangle",
            "geometria",
            "Triángulo con vértices rotulados",
            {
                "vertices": Param("numbers", [[0, 0], [4, 0], [1, 3]]),
                "names": Param("texts", ["A", "B", "C"]),
            },
            _triangle,
            ("ángulos", "áreas"),
        ),
        Template(
            "fraction_bar",
            "aritmetica",
            "Barra dividida en partes iguales: una fracción",
            {"numerator": Param("integer", 3, 0, 24), "denominator": Param("integer", 4, 1, 24)},
            _fraction_bar,
            ("fracciones",),
        ),
        Template(
            "pie_chart",
            "estadistica",
            "Gráfico circular con porcentajes",
            {"labels": Param("texts", ["A", "B", "C"]), "values": Param("numbers", [50, 30, 20])},
            _pie_chart,
            ("porcentajes",),
        ),
    )
}


def _coerce(name: str, spec: Param, value: Any) -> Any:
    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise TemplateError(f"{name} must be a number")
        if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
            raise TemplateError(f"{name} must be between {spec.low:g} and {spec.high:g}")
        return float(v)

    kind = spec.kind
    if kind == "number":
        return number(value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TemplateError(f"{name} must be a whole number")
        return int(number(value))
    if kind == "bool":
        if not isinstance(value, bool):
            raise TemplateError(f"{name} must be true or false")
        return value
    if kind == "text":
        if not isinstance(value, str) or len(value) > 60:
            raise TemplateError(f"{name} must be a short text")
        return value
    if not isinstance(value, list) or len(value) > spec.max_items:
        raise TemplateError(f"{name} must be a list of at most {spec.max_items} items")
    if kind == "texts":
        return [_coerce(name, Param("text", ""), item) for item in value]
    if kind == "numbers":
        plain = Param("number", 0, -1e6, 1e6)
        return [
            [_coerce(name, plain, v) for v in item] if isinstance(item, list) else number(item)
            for item in value
        ]
    if kind == "vector":
        if len(value) != 2:
            raise TemplateError(f"{name} must be [x, y]")
        return [_coerce(name, Param("number", 0, -1e6, 1e6), v) for v in value]
    if kind == "forces":
        forces = []
        for item in value:
            if not isinstance(item, list) or len(item) != 3:
                raise TemplateError(f"{name}: each force is [label, angle in degrees, magnitude]")
            forces.append(
                [
                    _coerce(name, Param("text", ""), item[0]),
                    _coerce(name, Param("number", 0, -360, 360), item[1]),
                    _coerce(name, Param("number", 1, 0, 1e6), item[2]),
                ]
            )
        return forces
    raise TemplateError(f"{name}: unsupported parameter")


def expand(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The plain canvas commands of a template with these parameters (unchecked: the caller
    validates them like any command)."""
    template = TEMPLATES.get(name)
    if template is None:
        raise TemplateError(f"unknown template {name!r}")
    specs = {**BOX_PARAMS, **template.params}
    unknown = set(params) - set(specs)
    if unknown:
        raise TemplateError(f"{name} takes no parameter {sorted(unknown)[0]!r}")
    values = {key: _coerce(key, spec, params.get(key, spec.default)) for key, spec in specs.items()}
    box = Box(values["x"], values["y"], values["width"], values["height"])
    try:
        return template.draw(values, box)
    except (ArithmeticError, ValueError) as exc:
        if isinstance(exc, TemplateError):
            raise
        raise TemplateError(f"{name} cannot be drawn with these parameters") from exc
