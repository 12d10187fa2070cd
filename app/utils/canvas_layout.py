"""Layout on the server: before a step's drawings are sent, they are measured (text with the
DejaVu Sans metrics the preview uses, LaTeX estimated) and checked against the board and what is
already on it.

- A label that runs off the board is moved back onto it; a circle that does, moves inwards.
- A label that lands on another label is moved down (or up) until it is clear of it.
- A step whose labels would land on much of the text earlier steps left on the board starts
  with a clean board (a `clear` at its first character) instead of writing over it. (Shapes may
  overlap: a curve is drawn on its axes, a label beside its figure.)
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.models.canvas import BOARD_HEIGHT, BOARD_WIDTH

Box = tuple[float, float, float, float]  # left, top, right, bottom
MARGIN = 4.0
LABELS = ("text", "latex")
# New labels covering more than this share of their area with earlier labels clear the board.
CROWDED = 0.15


@lru_cache(maxsize=1)
def _font_path() -> str | None:
    spec = importlib.util.find_spec("matplotlib")  # (found, not imported)
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.exists():
            return str(path)
    return None


@lru_cache(maxsize=64)
def _font(size: int, bold: bool) -> Any:
    from PIL import ImageFont

    path = _font_path()
    if path is None:
        return None
    if bold:
        bold_path = path.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")
        path = bold_path if Path(bold_path).exists() else path
    return ImageFont.truetype(path, size=size)


def text_box(text: str, x: float, y: float, size: float, align: str, bold: bool = False) -> Box:
    """Where a label's ink goes: (x, y) is its baseline at the left, center or right end."""
    font = _font(max(1, round(size)), bold)
    if font is not None:
        left, top, right, bottom = font.getbbox(text, anchor="ls")
        width = right - left
    else:  # no font file: an average glyph is about 0.6 em wide
        width, top, bottom = 0.6 * size * len(text), -0.75 * size, 0.25 * size
    start = x - width / 2 if align == "center" else x - width if align == "right" else x
    return (start, y + top, start + width, y + bottom)


_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+")


def latex_box(latex: str, x: float, y: float, size: float) -> Box:
    """An estimate: visible characters at about 0.55 em, fractions and limits taller."""
    visible = _LATEX_COMMAND.sub("x", latex).replace("{", "").replace("}", "")
    visible = visible.replace("^", "").replace("_", "")
    width = max(1, len(visible)) * 0.55 * size
    if "\\frac" in latex:
        width *= 0.75  # numerator and denominator stack
    tall = "\\frac" in latex or "\\lim" in latex or "\\sum" in latex or "\\int" in latex
    above, below = (1.3 * size, 0.8 * size) if tall else (0.8 * size, 0.3 * size)
    return (x - width / 2, y - above, x + width / 2, y + below)


def bounds(command: dict[str, Any]) -> Box | None:
    """The box a drawing covers on the board, or None for what covers nothing."""
    kind = command.get("type")
    pad = float(command.get("stroke_width", 2)) / 2
    if kind in ("rectangle", "highlight", "axes"):
        x, y = command["x"], command["y"]
        return (x - pad, y - pad, x + command["width"] + pad, y + command["height"] + pad)
    if kind == "circle":
        x, y, r = command["x"], command["y"], command["radius"]
        return (x - r - pad, y - r - pad, x + r + pad, y + r + pad)
    if kind in ("line", "arrow"):
        x1, x2, y1, y2 = command["x1"], command["x2"], command["y1"], command["y2"]
        return (min(x1, x2) - pad, min(y1, y2) - pad, max(x1, x2) + pad, max(y1, y2) + pad)
    if kind in ("polygon", "polyline"):
        xs = [p[0] for p in command["points"]]
        ys = [p[1] for p in command["points"]]
        return (min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad)
    if kind == "text":
        return text_box(
            command["text"],
            command["x"],
            command["y"],
            command.get("font_size", 20),
            command.get("align", "left"),
            command.get("bold", False),
        )
    if kind == "latex":
        return latex_box(command["latex"], command["x"], command["y"], command.get("font_size", 22))
    return None


def _area(box: Box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _shift(command: dict[str, Any], dx: float, dy: float) -> dict[str, Any]:
    return {**command, "x": round(command["x"] + dx, 1), "y": round(command["y"] + dy, 1)}


def _onto_board(command: dict[str, Any]) -> dict[str, Any]:
    """Move a label or a circle that runs off the board back onto it."""
    if command.get("type") not in (*LABELS, "circle"):
        return command
    box = bounds(command)
    if box is None:
        return command
    dx = dy = 0.0
    if box[2] - box[0] <= BOARD_WIDTH - 2 * MARGIN:
        if box[0] < MARGIN:
            dx = MARGIN - box[0]
        elif box[2] > BOARD_WIDTH - MARGIN:
            dx = BOARD_WIDTH - MARGIN - box[2]
    if box[3] - box[1] <= BOARD_HEIGHT - 2 * MARGIN:
        if box[1] < MARGIN:
            dy = MARGIN - box[1]
        elif box[3] > BOARD_HEIGHT - MARGIN:
            dy = BOARD_HEIGHT - MARGIN - box[3]
    return _shift(command, dx, dy) if dx or dy else command


def _clear_of(command: dict[str, Any], labels: list[Box]) -> dict[str, Any]:
    """Move a label down, or else up, by its own height until it overlaps no other label."""
    box = bounds(command)
    if box is None or not any(
        _overlap(box, other) > 0.2 * min(_area(box), _area(other)) for other in labels
    ):
        return command
    height = box[3] - box[1] + 2
    for steps in (1, 2, 3, -1, -2, -3):
        moved = _shift(command, 0, steps * height)
        moved_box = bounds(moved)
        assert moved_box is not None
        on_board = moved_box[1] >= MARGIN and moved_box[3] <= BOARD_HEIGHT - MARGIN
        if on_board and not any(_overlap(moved_box, other) > 0 for other in labels):
            return moved
    return command


def layout_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with their drawings kept on the board and off each other (see the module)."""
    board: list[Box] = []  # what earlier steps left drawn
    board_labels: list[Box] = []
    laid_out = []
    for step in steps:
        commands = [_onto_board(command) for command in step.get("canvas") or []]
        if commands and commands[0].get("type") != "clear" and board_labels:
            new = [b for c in commands if c.get("type") in LABELS and (b := bounds(c))]
            covered = sum(max(_overlap(n, old) for old in board_labels) for n in new)
            if new and covered > CROWDED * sum(_area(n) for n in new):
                commands = [{"type": "clear", "at": 0}, *commands]
        placed: list[dict[str, Any]] = []
        for command in commands:
            if command.get("type") == "clear":
                board, board_labels = [], []
            elif command.get("type") in LABELS:
                command = _clear_of(command, board_labels)
            box = bounds(command)
            if box is not None:
                board.append(box)
                if command.get("type") in LABELS:
                    board_labels.append(box)
            placed.append(command)
        laid_out.append({**step, "canvas": placed})
    return laid_out
