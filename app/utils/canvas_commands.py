"""Canvas commands as the student's board receives them: checked by the models of
`app.models.canvas`, then prepared on the server. `function_plot` becomes the polylines of its
curve and `axes` gets its ticks and labels, so the client only draws."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.models.canvas import Axes, CanvasCommand, FunctionPlot, Template, Tick
from app.utils.canvas_layout import layout_steps
from app.utils.canvas_templates import TemplateError, expand
from app.utils.function_plot import (
    ExpressionError,
    View,
    nice_ticks,
    parse_expression,
    sample,
    tick_label,
)

log = logging.getLogger(__name__)

# Bump when what `prepare_steps` produces changes: cached lessons of an older format are
# prepared again.
PREPARED_FORMAT = 2

_COMMAND = TypeAdapter(CanvasCommand)


def prepare_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps with their canvas commands ready to send, laid out on the board."""
    return layout_steps(
        [{**step, "canvas": prepare_commands(step.get("canvas") or [])} for step in steps]
    )


def templates_used(steps: list[dict[str, Any]]) -> list[str]:
    """The canvas library templates the steps draw with, each once."""
    names = {
        command.get("name")
        for step in steps
        for command in step.get("canvas") or []
        if isinstance(command, dict) and command.get("type") == "template"
    }
    return sorted(name for name in names if isinstance(name, str))


def prepare_commands(
    commands: list[dict[str, Any]], *, inside_template: bool = False
) -> list[dict[str, Any]]:
    prepared: list[dict[str, Any]] = []
    for index, raw in enumerate(commands):
        try:
            command = _COMMAND.validate_python(raw)
        except ValidationError as exc:
            # Stored documents were checked on the way in; one that is not valid now (an
            # older format) loses that drawing, not the lesson.
            log.warning("canvas command %d dropped: %s", index, exc.errors()[0].get("msg"))
            continue
        if isinstance(command, Template):
            if not inside_template:
                prepared.extend(_expand(command))
        elif isinstance(command, FunctionPlot):
            prepared.extend(_plot(command))
        elif isinstance(command, Axes):
            prepared.append(_dump(_with_ticks(command)))
        else:
            prepared.append(_dump(command))
    return prepared


def _expand(template: Template) -> list[dict[str, Any]]:
    """A template's drawing, each command sent when the template would have been."""
    try:
        drawing = expand(template.name, template.params)
    except TemplateError as exc:
        log.warning("canvas template %r not drawn: %s", template.name, exc)
        return []
    shared: dict[str, Any] = {"at": template.at}
    if template.animation is not None:
        shared["animation"] = template.animation.model_dump()
    return prepare_commands([{**command, **shared} for command in drawing], inside_template=True)


def _dump(command: Any) -> dict[str, Any]:
    return command.model_dump(mode="json", exclude_none=True)


def _view(command: Axes | FunctionPlot) -> View:
    return View(
        command.x_min,
        command.x_max,
        command.y_min,
        command.y_max,
        left=command.x,
        top=command.y,
        width=command.width,
        height=command.height,
    )


def _with_ticks(axes: Axes) -> Axes:
    view = _view(axes)
    x_ticks = [
        Tick(value=v, position=round(view.px(v, 0)[0], 1), label=tick_label(v))
        for v in nice_ticks(axes.x_min, axes.x_max, target=_tick_count(axes.width, 60))
    ]
    y_ticks = [
        Tick(value=v, position=round(view.py(v), 1), label=tick_label(v))
        for v in nice_ticks(axes.y_min, axes.y_max, target=_tick_count(axes.height, 40))
    ]
    return axes.model_copy(update={"x_ticks": x_ticks, "y_ticks": y_ticks})


def _tick_count(pixels: float, spacing: float) -> int:
    """About one tick per `spacing` pixels, between 2 and 10."""
    return max(2, min(10, int(pixels // spacing)))


def _plot(command: FunctionPlot) -> list[dict[str, Any]]:
    try:
        pieces = sample(parse_expression(command.expr), _view(command))
    except ExpressionError as exc:
        log.warning("function_plot %r not drawn: %s", command.expr, exc)
        return []
    common: dict[str, Any] = {
        "type": "polyline",
        "at": command.at,
        "color": command.color,
        "stroke_width": command.stroke_width,
    }
    if command.animation is not None:
        common["animation"] = command.animation.model_dump()
    return [{**common, "points": [list(point) for point in piece]} for piece in pieces]
