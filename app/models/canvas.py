"""The whiteboard's drawing language (ARCHITECTURE.md section 6): one model per canvas command
type, discriminated by `type`, on a logical 800x600 board with its origin top-left.

The same models check every command wherever it comes from (an import, the seed, a model's
output): unknown types, unknown fields, bad colors, non-numbers and absurd sizes are refused;
coordinates a little off the board are pulled back onto it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.utils.canvas_templates import TemplateError, expand
from app.utils.function_plot import ExpressionError, parse_expression

BOARD_WIDTH = 800
BOARD_HEIGHT = 600
MAX_POLYLINE_POINTS = 2_000
MAX_POLYGON_POINTS = 200

_HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
NAMED_COLORS = frozenset(
    {
        "black", "white", "red", "green", "blue", "orange", "purple", "gray", "grey", "yellow",
        "brown", "pink", "cyan", "magenta", "navy", "teal", "maroon", "olive", "transparent",
    }
)  # fmt: skip


def check_color(value: str) -> str:
    if _HEX_COLOR.match(value) or value.lower() in NAMED_COLORS:
        return value.lower() if value.lower() in NAMED_COLORS else value
    raise ValueError("a color is #rgb, #rrggbb, #rrggbbaa or a basic color name")


# Beyond these a value is not a slip to correct but nonsense to refuse.
Coordinate = Annotated[float, Field(ge=-10_000, le=10_000, allow_inf_nan=False)]
Size = Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]
Color = Annotated[str, Field(max_length=20)]
PlainText = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Point = tuple[Coordinate, Coordinate]


class Animation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["draw", "fade_in", "grow"] = "draw"
    duration_ms: int = Field(default=600, ge=0, le=10_000)


def _clamp_x(value: float) -> float:
    return min(max(value, 0.0), float(BOARD_WIDTH))


def _clamp_y(value: float) -> float:
    return min(max(value, 0.0), float(BOARD_HEIGHT))


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    at: int = Field(default=0, ge=0, description="Character offset in the step's content")
    animation: Animation | None = None


class _Colored(_Command):
    color: Color = "#2c3e50"

    @field_validator("color")
    @classmethod
    def _color(cls, value: str) -> str:
        return check_color(value)


class _Stroked(_Colored):
    stroke_width: float = Field(default=2.0, ge=0.5, le=20, allow_inf_nan=False)


class _Filled(_Stroked):
    fill: Color | None = None

    @field_validator("fill")
    @classmethod
    def _fill(cls, value: str | None) -> str | None:
        return None if value is None else check_color(value)


class _Box(BaseModel):
    """A box pulled onto the board: its corner moved on, its size cut to what fits."""

    x: Coordinate
    y: Coordinate
    width: Size
    height: Size

    @model_validator(mode="after")
    def _box_onto_board(self) -> Any:
        self.x, self.y = _clamp_x(self.x), _clamp_y(self.y)
        self.width = max(1.0, min(self.width, BOARD_WIDTH - self.x))
        self.height = max(1.0, min(self.height, BOARD_HEIGHT - self.y))
        return self


class Rectangle(_Filled, _Box):
    type: Literal["rectangle"]
    corner_radius: float = Field(default=0, ge=0, le=100)


class Circle(_Filled):
    type: Literal["circle"]
    x: Coordinate = Field(description="Center")
    y: Coordinate
    radius: Size

    @model_validator(mode="after")
    def _onto_board(self) -> Circle:
        self.x, self.y = _clamp_x(self.x), _clamp_y(self.y)
        self.radius = min(self.radius, BOARD_HEIGHT / 2)
        return self


class Line(_Stroked):
    type: Literal["line"]
    x1: Coordinate
    y1: Coordinate
    x2: Coordinate
    y2: Coordinate
    dashed: bool = False

    @model_validator(mode="after")
    def _onto_board(self) -> Line:
        self.x1, self.x2 = _clamp_x(self.x1), _clamp_x(self.x2)
        self.y1, self.y2 = _clamp_y(self.y1), _clamp_y(self.y2)
        return self


class Arrow(Line):
    type: Literal["arrow"]  # type: ignore[assignment]
    head_size: float = Field(default=10, ge=4, le=40)


class Text(_Colored):
    type: Literal["text"]
    x: Coordinate
    y: Coordinate
    text: PlainText
    font_size: float = Field(default=20, ge=8, le=72)
    align: Literal["left", "center", "right"] = "left"
    bold: bool = False

    @model_validator(mode="after")
    def _onto_board(self) -> Text:
        self.x, self.y = _clamp_x(self.x), _clamp_y(self.y)
        return self


class Latex(_Colored):
    type: Literal["latex"]
    x: Coordinate
    y: Coordinate
    latex: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")
    font_size: float = Field(default=22, ge=8, le=72)

    @model_validator(mode="after")
    def _onto_board(self) -> Latex:
        self.x, self.y = _clamp_x(self.x), _clamp_y(self.y)
        return self


def _points_onto_board(points: list[Point]) -> list[Point]:
    return [(_clamp_x(x), _clamp_y(y)) for x, y in points]


class Polygon(_Filled):
    type: Literal["polygon"]
    points: list[Point] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)

    @model_validator(mode="after")
    def _onto_board(self) -> Polygon:
        self.points = _points_onto_board(self.points)
        return self


class Polyline(_Stroked):
    type: Literal["polyline"]
    points: list[Point] = Field(min_length=2, max_length=MAX_POLYLINE_POINTS)
    dashed: bool = False

    @model_validator(mode="after")
    def _onto_board(self) -> Polyline:
        self.points = _points_onto_board(self.points)
        return self


Limit = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class Tick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: float
    position: float = Field(description="Board pixel (x for the x axis, y for the y axis)")
    label: str


class _View(_Box):
    """The part of the plane shown, and the box of the board it is drawn in."""

    x: Coordinate = 60
    y: Coordinate = 40
    width: Size = 680
    height: Size = 520
    x_min: Limit = -10
    x_max: Limit = 10
    y_min: Limit = -10
    y_max: Limit = 10

    @model_validator(mode="after")
    def _ranges(self) -> Any:
        if not (self.x_min < self.x_max and self.y_min < self.y_max):
            raise ValueError("needs x_min < x_max and y_min < y_max")
        return self


class Axes(_Stroked, _View):
    type: Literal["axes"]
    grid: bool = False
    x_label: PlainText | None = None
    y_label: PlainText | None = None
    # Computed on the server (whatever a document says): ticks and labels where they go.
    x_ticks: list[Tick] | None = None
    y_ticks: list[Tick] | None = None


class FunctionPlot(_Stroked, _View):
    """y = f(x), sampled on the server into polylines before it is sent."""

    type: Literal["function_plot"]
    expr: str = Field(min_length=1, max_length=200)
    color: Color = "#2980b9"

    @field_validator("expr")
    @classmethod
    def _plottable(cls, value: str) -> str:
        try:
            parse_expression(value)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return value


class Highlight(_Colored, _Box):
    type: Literal["highlight"]
    color: Color = "#ffeb3b80"


class Clear(_Command):
    type: Literal["clear"]


class Template(_Command):
    """A named drawing of the canvas library with its parameters."""

    type: Literal["template"]
    name: str = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")
    params: dict[str, Any] = Field(default_factory=dict, max_length=30)

    @model_validator(mode="after")
    def _drawable(self) -> Template:
        try:
            expand(self.name, self.params)
        except TemplateError as exc:
            raise ValueError(str(exc)) from None
        return self


CanvasCommand = Annotated[
    Rectangle
    | Circle
    | Line
    | Arrow
    | Text
    | Latex
    | Polygon
    | Polyline
    | Axes
    | FunctionPlot
    | Highlight
    | Clear
    | Template,
    Field(discriminator="type"),
]
