"""The whiteboard drawn to PNG, step by step, so authors and reviewers look at a lesson instead of
reading its JSON. Uses matplotlib without pyplot (no global state, no display): shapes as
patches, text with the board's pixel sizes, LaTeX through matplotlib's mathtext.

Board conventions (the web client draws the same way): 800x600 logical pixels, origin top-left;
a text's (x, y) is the left end of its baseline (or its center/right end with `align`); a LaTeX
formula is placed the same way; font sizes and stroke widths are in board pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

from app.models.canvas import BOARD_HEIGHT, BOARD_WIDTH

DPI = 100
POINTS_PER_PIXEL = 72 / DPI


@dataclass
class Rendered:
    png: bytes
    problems: list[str] = field(default_factory=list)  # drawings that run off the board


def _color(value: str | None, default: str = "#2c3e50") -> str:
    value = value or default
    if value == "transparent":
        return "none"
    if value.startswith("#") and len(value) in (4, 5):  # #rgb(a) → #rrggbb(aa)
        return "#" + "".join(ch * 2 for ch in value[1:])
    return value


def render_board(commands: list[dict[str, Any]]) -> Rendered:
    """The board after these (prepared) commands, as a PNG, and what runs off it."""
    figure = Figure(figsize=(BOARD_WIDTH / DPI, BOARD_HEIGHT / DPI), dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, BOARD_WIDTH)
    axes.set_ylim(BOARD_HEIGHT, 0)
    axes.set_axis_off()
    labels: list[tuple[Any, str]] = []
    shapes: list[tuple[Any, str]] = []
    order = 1
    for command in commands:
        kind = command.get("type")
        if kind == "clear":
            for artist in [*axes.patches, *axes.lines, *axes.texts]:
                artist.remove()
            labels, shapes = [], []
            continue
        drawn = _draw(axes, command)
        for artist in drawn:
            artist.set_zorder(order)  # in command order, as the board draws them
            order += 1
            described = f"{kind} {command.get('text') or command.get('latex') or ''}".strip()
            (labels if kind in ("text", "latex") else shapes).append((artist, described))
    problems: list[str] = []
    try:
        canvas.draw()
    except ValueError as exc:  # mathtext that cannot be laid out
        problems.append(f"LaTeX that cannot be drawn: {str(exc).splitlines()[0]}")
        for artist, _ in labels:
            if artist.get_text().startswith("$"):
                artist.set_text(artist.get_text().strip("$"))
                artist.set_color("#c0392b")
        canvas.draw()
    renderer = canvas.get_renderer()
    for artist, described in labels + shapes:
        box = artist.get_window_extent(renderer)
        # (Display coordinates: origin bottom-left, in the figure's pixels.)
        if (
            box.x0 < -0.5
            or box.x1 > BOARD_WIDTH + 0.5
            or box.y0 < -0.5
            or box.y1 > BOARD_HEIGHT + 0.5
        ):
            problems.append(f"{described} runs off the board")
    output = io.BytesIO()
    canvas.print_png(output)
    return Rendered(output.getvalue(), problems)


def _draw(axes: Any, c: dict[str, Any]) -> list[Any]:
    kind = c["type"]
    color = _color(c.get("color"))
    width = float(c.get("stroke_width", 2)) * POINTS_PER_PIXEL
    fill = _color(c["fill"]) if c.get("fill") else "none"
    if kind == "rectangle":
        radius = float(c.get("corner_radius", 0))
        patch = (
            FancyBboxPatch(
                (c["x"], c["y"]),
                c["width"],
                c["height"],
                boxstyle=f"round,pad=0,rounding_size={radius}",
                edgecolor=color,
                facecolor=fill,
                linewidth=width,
            )
            if radius
            else Rectangle(
                (c["x"], c["y"]),
                c["width"],
                c["height"],
                edgecolor=color,
                facecolor=fill,
                linewidth=width,
            )
        )
        return [axes.add_patch(patch)]
    if kind == "highlight":
        return [
            axes.add_patch(
                Rectangle((c["x"], c["y"]), c["width"], c["height"], facecolor=color, linewidth=0)
            )
        ]
    if kind == "circle":
        return [
            axes.add_patch(
                Circle(
                    (c["x"], c["y"]), c["radius"], edgecolor=color, facecolor=fill, linewidth=width
                )
            )
        ]
    if kind in ("line", "polyline"):
        points = [(c["x1"], c["y1"]), (c["x2"], c["y2"])] if kind == "line" else c["points"]
        (line,) = axes.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=color,
            linewidth=width,
            linestyle="--" if c.get("dashed") else "-",
            solid_capstyle="round",
        )
        return [line]
    if kind == "arrow":
        arrow = FancyArrowPatch(
            (c["x1"], c["y1"]),
            (c["x2"], c["y2"]),
            arrowstyle="-|>",
            mutation_scale=float(c.get("head_size", 10)) * 1.5,
            color=color,
            linewidth=width,
            linestyle="--" if c.get("dashed") else "-",
            shrinkA=0,
            shrinkB=0,
        )
        return [axes.add_patch(arrow)]
    if kind == "polygon":
        return [
            axes.add_patch(
                Polygon(c["points"], closed=True, edgecolor=color, facecolor=fill, linewidth=width)
            )
        ]
    if kind in ("text", "latex"):
        content = c["text"] if kind == "text" else f"${c['latex']}$"
        if kind == "text":
            content = content.replace("$", r"\$")  # a price, not math
        return [
            axes.text(
                c["x"],
                c["y"],
                content,
                color=color,
                fontsize=float(c.get("font_size", 20 if kind == "text" else 22)) * POINTS_PER_PIXEL,
                fontweight="bold" if c.get("bold") else "normal",
                ha=c.get("align", "left" if kind == "text" else "center"),
                va="baseline",
            )
        ]
    if kind == "axes":
        return _draw_axes(axes, c, color, width)
    return []  # (templates and plots arrive already expanded)


def _draw_axes(axes: Any, c: dict[str, Any], color: str, width: float) -> list[Any]:
    left, top, w, h = c["x"], c["y"], c["width"], c["height"]
    x_min, x_max, y_min, y_max = c["x_min"], c["x_max"], c["y_min"], c["y_max"]
    zero_x = left + (0 - x_min) / (x_max - x_min) * w if x_min <= 0 <= x_max else left
    zero_y = top + (y_max - 0) / (y_max - y_min) * h if y_min <= 0 <= y_max else top + h
    drawn: list[Any] = []
    if c.get("grid"):
        for tick in c.get("x_ticks", []):
            drawn.append(
                axes.add_line(
                    Line2D([tick["position"]] * 2, [top, top + h], color="#dfe6e9", linewidth=0.6)
                )
            )
        for tick in c.get("y_ticks", []):
            drawn.append(
                axes.add_line(
                    Line2D([left, left + w], [tick["position"]] * 2, color="#dfe6e9", linewidth=0.6)
                )
            )
    drawn.append(
        axes.add_line(Line2D([left, left + w], [zero_y] * 2, color=color, linewidth=width))
    )
    drawn.append(axes.add_line(Line2D([zero_x] * 2, [top, top + h], color=color, linewidth=width)))
    small = 12 * POINTS_PER_PIXEL
    for tick in c.get("x_ticks", []):
        position = tick["position"]
        drawn.append(axes.add_line(Line2D([position] * 2, [zero_y - 4, zero_y + 4], color=color)))
        if tick["value"] != 0:
            drawn.append(
                axes.text(
                    position,
                    min(zero_y + 16, top + h - 2),
                    tick["label"],
                    fontsize=small,
                    ha="center",
                    va="baseline",
                    color=color,
                )
            )
    for tick in c.get("y_ticks", []):
        position = tick["position"]
        drawn.append(axes.add_line(Line2D([zero_x - 4, zero_x + 4], [position] * 2, color=color)))
        if tick["value"] != 0:
            drawn.append(
                axes.text(
                    max(zero_x - 7, left + 2),
                    position + 4,
                    tick["label"],
                    fontsize=small,
                    ha="right",
                    va="baseline",
                    color=color,
                )
            )
    if c.get("x_label"):
        drawn.append(
            axes.text(
                left + w - 4,
                zero_y - 8,
                c["x_label"],
                fontsize=16 * POINTS_PER_PIXEL,
                ha="right",
                color=color,
            )
        )
    if c.get("y_label"):
        drawn.append(
            axes.text(
                zero_x + 8,
                top + 14,
                c["y_label"],
                fontsize=16 * POINTS_PER_PIXEL,
                ha="left",
                color=color,
            )
        )
    return drawn
