// The student's whiteboard: a display list of the canvas commands the server sends
// (docs/canvas-commands.md, app/models/canvas.py), drawn with their animations onto a 2D context
// whose coordinates are the logical 800x600 board (origin top-left, y growing downwards).
//
// Commands are checked again here, whatever the server promises: anything malformed is skipped
// (execute returns false), never thrown. LaTeX is not drawn on the canvas (KaTeX cannot draw
// into one); the page overlays it as HTML from `board.latexItems`.

export const BOARD_WIDTH = 800;
export const BOARD_HEIGHT = 600;

const INK = "#2c3e50";
const HIGHLIGHTER = "#ffeb3b80";
const GRID = "#dfe6e9";
const BACKGROUND = "#ffffff";
const FONT_FAMILY = '"DejaVu Sans", Verdana, sans-serif'; // the metrics the server's layout uses
const DASH = [8, 6];
const LIMIT = 10_000; // beyond this a coordinate or size is nonsense (as on the server)
const MAX_TEXT = 300;
const MAX_LATEX = 500;
const MAX_LABEL = 40;
const MAX_POLYGON_POINTS = 200;
const MAX_POLYLINE_POINTS = 2_000;
const MAX_TICKS = 100;
const CORNER_STEPS = 8; // segments per rounded corner while a rectangle is being drawn
const AXES_LINES_SHARE = 0.6; // of a `draw` animation spent on the axis lines, then the ticks
const DEFAULT_DURATION_MS = 600;
const MAX_DURATION_MS = 10_000;

const HEX_COLOR = /^#(?:[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;
const NAMED_COLORS = new Set([
  "black", "white", "red", "green", "blue", "orange", "purple", "gray", "grey", "yellow",
  "brown", "pink", "cyan", "magenta", "navy", "teal", "maroon", "olive", "transparent",
]);
const ANIMATIONS = new Set(["draw", "fade_in", "grow"]);
const hasOwn = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

// ---------------------------------------------------------------------------------------------
// Reading a command: each reader returns the checked value or throws MALFORMED (caught in
// `execute`). A missing (or null) optional field takes its default.

const MALFORMED = new Error("malformed canvas command");

const given = (value) => value !== undefined && value !== null;

function number(command, key, fallback, min = -LIMIT, max = LIMIT) {
  const value = given(command[key]) ? command[key] : fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw MALFORMED;
  }
  return value;
}

const positive = (command, key, fallback, max = LIMIT) => {
  const value = number(command, key, fallback, 0, max);
  if (value <= 0) throw MALFORMED;
  return value;
};

function color(command, key, fallback) {
  const value = given(command[key]) ? command[key] : fallback;
  if (value === null) return null; // (an optional fill)
  if (typeof value !== "string" || value.length > 20) throw MALFORMED;
  if (HEX_COLOR.test(value)) return value;
  if (NAMED_COLORS.has(value.toLowerCase())) return value.toLowerCase();
  throw MALFORMED;
}

const flag = (command, key) => command[key] === true;

// The text as code points (so revealing it never splits a character), at most `max` of them.
function characters(value, max, required = true) {
  if (!given(value) && !required) return null;
  if (typeof value !== "string" || value.length === 0) throw MALFORMED;
  return Array.from(value.slice(0, 2 * max)).slice(0, max);
}

function points(command, min, max) {
  const list = command.points;
  if (!Array.isArray(list) || list.length < min || list.length > max) throw MALFORMED;
  return list.map((point) => {
    if (!Array.isArray(point)) throw MALFORMED;
    return [number(point, 0), number(point, 1)];
  });
}

// Ticks the server computed: malformed ones are dropped, the rest kept in order.
function ticks(list) {
  if (!Array.isArray(list)) return [];
  return list.slice(0, MAX_TICKS).flatMap((tick) => {
    if (tick === null || typeof tick !== "object") return [];
    const { value, position, label } = tick;
    if (![value, position].every(Number.isFinite) || typeof label !== "string") return [];
    return [{ value, position, label: label.slice(0, MAX_LABEL) }];
  });
}

function animation(value) {
  // A broken animation loses the animation, not the drawing.
  if (value === null || typeof value !== "object") return null;
  const kind = value.kind ?? "draw";
  const duration = value.duration_ms ?? DEFAULT_DURATION_MS;
  if (!ANIMATIONS.has(kind) || !Number.isFinite(duration) || duration <= 0) return null;
  return { kind, duration: Math.min(duration, MAX_DURATION_MS) };
}

// ---------------------------------------------------------------------------------------------
// Parsers: one per type, a command in, the item's own fields out.

const stroke = (c) => ({
  color: color(c, "color", INK),
  stroke_width: positive(c, "stroke_width", 2, 100),
});

const box = (c, fallback = {}) => ({
  x: number(c, "x", fallback.x),
  y: number(c, "y", fallback.y),
  width: positive(c, "width", fallback.width),
  height: positive(c, "height", fallback.height),
});

const segment = (c) => ({
  x1: number(c, "x1"), y1: number(c, "y1"), x2: number(c, "x2"), y2: number(c, "y2"),
  ...stroke(c),
  dashed: flag(c, "dashed"),
});

const parse = {
  rectangle: (c) => ({
    ...box(c), ...stroke(c), fill: color(c, "fill", null),
    corner_radius: number(c, "corner_radius", 0, 0),
  }),
  circle: (c) => ({
    x: number(c, "x"), y: number(c, "y"), radius: positive(c, "radius"),
    ...stroke(c), fill: color(c, "fill", null),
  }),
  line: segment,
  arrow: (c) => ({ ...segment(c), head_size: positive(c, "head_size", 10, 200) }),
  text: (c) => ({
    x: number(c, "x"), y: number(c, "y"), chars: characters(c.text, MAX_TEXT),
    color: color(c, "color", INK), font_size: positive(c, "font_size", 20, 200),
    align: ["center", "right"].includes(c.align) ? c.align : "left",
    bold: flag(c, "bold"),
  }),
  latex: (c) => ({
    x: number(c, "x"), y: number(c, "y"), latex: characters(c.latex, MAX_LATEX).join(""),
    color: color(c, "color", INK), font_size: positive(c, "font_size", 22, 200),
  }),
  polygon: (c) => ({
    points: points(c, 3, MAX_POLYGON_POINTS), ...stroke(c), fill: color(c, "fill", null),
  }),
  polyline: (c) => ({
    points: points(c, 2, MAX_POLYLINE_POINTS), ...stroke(c), dashed: flag(c, "dashed"),
  }),
  axes: (c) => {
    const view = {
      ...box(c, { x: 60, y: 40, width: 680, height: 520 }),
      x_min: number(c, "x_min", -10, -1e6, 1e6), x_max: number(c, "x_max", 10, -1e6, 1e6),
      y_min: number(c, "y_min", -10, -1e6, 1e6), y_max: number(c, "y_max", 10, -1e6, 1e6),
    };
    if (!(view.x_min < view.x_max && view.y_min < view.y_max)) throw MALFORMED;
    const axisLabel = (key) => characters(c[key], MAX_TEXT, false)?.join("") ?? null;
    return {
      ...view, ...stroke(c), grid: flag(c, "grid"),
      x_label: axisLabel("x_label"), y_label: axisLabel("y_label"),
      x_ticks: ticks(c.x_ticks), y_ticks: ticks(c.y_ticks),
    };
  },
  highlight: (c) => ({ ...box(c), color: color(c, "color", HIGHLIGHTER) }),
};

// ---------------------------------------------------------------------------------------------
// Drawing helpers.

const clamp01 = (value) => Math.min(Math.max(value, 0), 1);

function applyStroke(ctx, item) {
  ctx.strokeStyle = item.color;
  ctx.lineWidth = item.stroke_width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (item.dashed) ctx.setLineDash(DASH);
}

// A path through the points, cut at `fraction` of its length (the whole path at 1).
function tracePath(ctx, pts, fraction, closed = false) {
  ctx.beginPath();
  ctx.moveTo(pts[0][0], pts[0][1]);
  if (fraction >= 1) {
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    if (closed) ctx.closePath();
    return;
  }
  const path = closed ? [...pts, pts[0]] : pts;
  let length = 0;
  for (let i = 1; i < path.length; i++) length += distance(path[i - 1], path[i]);
  let left = fraction * length;
  for (let i = 1; i < path.length; i++) {
    const [[ax, ay], [bx, by]] = [path[i - 1], path[i]];
    const step = distance(path[i - 1], path[i]);
    if (step >= left) {
      const t = step > 0 ? left / step : 0;
      ctx.lineTo(ax + (bx - ax) * t, ay + (by - ay) * t);
      return;
    }
    ctx.lineTo(bx, by);
    left -= step;
  }
}

const distance = (a, b) => Math.hypot(b[0] - a[0], b[1] - a[1]);

const cornerRadius = (r) => Math.min(r.corner_radius ?? 0, r.width / 2, r.height / 2);

function roundedRectPath(ctx, { x, y, width: w, height: h }, radius) {
  ctx.beginPath();
  ctx.moveTo(x + radius, y);
  ctx.arcTo(x + w, y, x + w, y + h, radius);
  ctx.arcTo(x + w, y + h, x, y + h, radius);
  ctx.arcTo(x, y + h, x, y, radius);
  ctx.arcTo(x, y, x + w, y, radius);
  ctx.closePath();
}

// A box's outline as points, clockwise from its top-left corner, rounded corners sampled.
function outlinePoints({ x, y, width: w, height: h }, radius) {
  if (radius <= 0) return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]];
  const corners = [[x + w - radius, y + radius, -90], [x + w - radius, y + h - radius, 0],
    [x + radius, y + h - radius, 90], [x + radius, y + radius, 180]];
  return corners.flatMap(([cx, cy, from]) => Array.from({ length: CORNER_STEPS + 1 }, (_, i) => {
    const angle = ((from + (90 * i) / CORNER_STEPS) * Math.PI) / 180;
    return [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
  }));
}

// The whole box as a path (rounded with arcTo, not roundRect, for older browsers).
function boxPath(ctx, item) {
  const radius = cornerRadius(item);
  if (radius > 0) roundedRectPath(ctx, item, radius);
  else {
    ctx.beginPath();
    ctx.rect(item.x, item.y, item.width, item.height);
  }
}

const font = (sizePx, bold = false) => `${bold ? "bold " : ""}${sizePx}px ${FONT_FAMILY}`;

// Where a text's left end goes: (x, y) is the left, center or right end of its baseline.
function textLeft(ctx, t) {
  const width = ctx.measureText(t.chars.join("")).width;
  return t.align === "center" ? t.x - width / 2 : t.align === "right" ? t.x - width : t.x;
}

function label(ctx, text, x, y, align) {
  ctx.textAlign = align;
  ctx.fillText(text, x, y);
}

// ---------------------------------------------------------------------------------------------
// Drawers: `p` is the `draw` progress (1 for other animations and none).

function drawRectangle(ctx, r, p) {
  if (p < 1) {
    applyStroke(ctx, r);
    tracePath(ctx, outlinePoints(r, cornerRadius(r)), p, true);
    ctx.stroke();
    return;
  }
  boxPath(ctx, r);
  if (r.fill) {
    ctx.fillStyle = r.fill;
    ctx.fill();
  }
  applyStroke(ctx, r);
  ctx.stroke();
}

function drawHighlight(ctx, h, p) {
  if (p < 1) {
    applyStroke(ctx, { color: h.color, stroke_width: 2 });
    tracePath(ctx, outlinePoints(h, 0), p, true);
    ctx.stroke();
    return;
  }
  ctx.fillStyle = h.color;
  ctx.fillRect(h.x, h.y, h.width, h.height);
}

function drawCircle(ctx, c, p) {
  ctx.beginPath();
  ctx.arc(c.x, c.y, c.radius, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * p);
  if (p >= 1 && c.fill) {
    ctx.fillStyle = c.fill;
    ctx.fill();
  }
  applyStroke(ctx, c);
  ctx.stroke();
}

function drawLine(ctx, l, p) {
  applyStroke(ctx, l);
  tracePath(ctx, [[l.x1, l.y1], [l.x2, l.y2]], p);
  ctx.stroke();
}

function drawArrow(ctx, a, p) {
  drawLine(ctx, a, p);
  if (p < 1) return; // the head comes once the shaft is complete
  const angle = Math.atan2(a.y2 - a.y1, a.x2 - a.x1);
  const corner = (side) => [
    a.x2 - a.head_size * Math.cos(angle + (side * Math.PI) / 6),
    a.y2 - a.head_size * Math.sin(angle + (side * Math.PI) / 6),
  ];
  ctx.setLineDash([]);
  tracePath(ctx, [[a.x2, a.y2], corner(-1), corner(1)], 1, true);
  ctx.fillStyle = a.color;
  ctx.fill();
  ctx.stroke();
}

function drawPolygon(ctx, g, p) {
  tracePath(ctx, g.points, p, true);
  if (p >= 1 && g.fill) {
    ctx.fillStyle = g.fill;
    ctx.fill();
  }
  applyStroke(ctx, g);
  ctx.stroke();
}

function drawPolyline(ctx, l, p) {
  applyStroke(ctx, l);
  tracePath(ctx, l.points, p);
  ctx.stroke();
}

// y is the baseline ("alphabetic"): the server's layout (app/utils/canvas_layout.py, text_box
// with anchor "ls") and its preview (app/utils/board_render.py, va="baseline") both treat a
// text's (x, y) as a point on its baseline.
function drawText(ctx, t, p) {
  ctx.font = font(t.font_size, t.bold);
  ctx.fillStyle = t.color;
  ctx.textBaseline = "alphabetic";
  if (p >= 1) {
    label(ctx, t.chars.join(""), t.x, t.y, t.align);
    return;
  }
  // Revealed from where the whole text starts, so it does not slide while it grows.
  const shown = t.chars.slice(0, Math.floor(p * t.chars.length)).join("");
  if (shown) label(ctx, shown, textLeft(ctx, t), t.y, "left");
}

// Axes as the preview draws them: each axis at 0 of the view when 0 is in it, else along the
// box's bottom (x) or left (y) edge; no label at the 0 ticks (where the axes cross).
function drawAxes(ctx, a, p) {
  const { x: left, y: top, width: w, height: h } = a;
  const zeroX = a.x_min <= 0 && a.x_max >= 0 ? left + (-a.x_min / (a.x_max - a.x_min)) * w : left;
  const zeroY = a.y_min <= 0 && a.y_max >= 0 ? top + (a.y_max / (a.y_max - a.y_min)) * h : top + h;
  const marks = clamp01((p - AXES_LINES_SHARE) / (1 - AXES_LINES_SHARE));
  const xTicks = a.x_ticks.slice(0, Math.floor(marks * a.x_ticks.length));
  const yTicks = a.y_ticks.slice(0, Math.floor(marks * a.y_ticks.length));
  if (a.grid) {
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    xTicks.forEach((t) => strokeSegment(ctx, t.position, top, t.position, top + h));
    yTicks.forEach((t) => strokeSegment(ctx, left, t.position, left + w, t.position));
  }
  applyStroke(ctx, a);
  const lines = Math.min(1, p / AXES_LINES_SHARE);
  tracePath(ctx, [[left, zeroY], [left + w, zeroY]], lines);
  ctx.stroke();
  tracePath(ctx, [[zeroX, top + h], [zeroX, top]], lines);
  ctx.stroke();
  ctx.lineWidth = 1;
  ctx.fillStyle = a.color;
  ctx.font = font(12);
  ctx.textBaseline = "alphabetic";
  for (const t of xTicks) {
    strokeSegment(ctx, t.position, zeroY - 4, t.position, zeroY + 4);
    if (t.value !== 0) label(ctx, t.label, t.position, Math.min(zeroY + 16, top + h - 2), "center");
  }
  for (const t of yTicks) {
    strokeSegment(ctx, zeroX - 4, t.position, zeroX + 4, t.position);
    if (t.value !== 0) label(ctx, t.label, Math.max(zeroX - 7, left + 2), t.position + 4, "right");
  }
  if (marks < 1) return;
  ctx.font = font(16);
  if (a.x_label) label(ctx, a.x_label, left + w - 4, zeroY - 8, "right");
  if (a.y_label) label(ctx, a.y_label, zeroX + 8, top + 14, "left");
}

function strokeSegment(ctx, x1, y1, x2, y2) {
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x2, y2);
  ctx.stroke();
}

// ---------------------------------------------------------------------------------------------
// Centers, for `grow`.

const boxCenter = (b) => [b.x + b.width / 2, b.y + b.height / 2];
const segmentCenter = (l) => [(l.x1 + l.x2) / 2, (l.y1 + l.y2) / 2];

function pointsCenter({ points: pts }) {
  const xs = pts.map((point) => point[0]);
  const ys = pts.map((point) => point[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

function textCenter(t, ctx) {
  ctx.font = font(t.font_size, t.bold);
  const width = ctx.measureText(t.chars.join("")).width;
  return [textLeft(ctx, t) + width / 2, t.y - 0.35 * t.font_size];
}

const SHAPES = {
  rectangle: { draw: drawRectangle, center: boxCenter },
  circle: { draw: drawCircle, center: (c) => [c.x, c.y] },
  line: { draw: drawLine, center: segmentCenter },
  arrow: { draw: drawArrow, center: segmentCenter },
  text: { draw: drawText, center: textCenter },
  latex: { draw: null, center: null }, // overlaid by the page (latexItems)
  polygon: { draw: drawPolygon, center: pointsCenter },
  polyline: { draw: drawPolyline, center: pointsCenter },
  axes: { draw: drawAxes, center: boxCenter },
  highlight: { draw: drawHighlight, center: boxCenter },
};

// ---------------------------------------------------------------------------------------------

export class Board {
  #items = [];
  #nextKey = 1;
  #now;

  constructor({ now = () => performance.now() } = {}) {
    this.#now = now;
  }

  /** Runs one command as the server sends it; true when it was drawn (or, for clear, ran). */
  execute(command) {
    if (command === null || typeof command !== "object" || Array.isArray(command)) return false;
    const type = command.type;
    if (type === "clear") {
      this.#items = [];
      return true;
    }
    // function_plot and template arrive prepared (polylines, plain commands): ignored if not.
    if (typeof type !== "string" || !hasOwn(SHAPES, type)) return false;
    let fields;
    try {
      fields = parse[type](command);
    } catch {
      return false;
    }
    this.#items.push({
      ...fields,
      type,
      key: this.#nextKey++,
      executedAt: this.#now(),
      animation: animation(command.animation),
    });
    return true;
  }

  /** Draws the board at `time`; true while an animation is still running. */
  render(ctx, time = this.#now()) {
    ctx.save();
    ctx.fillStyle = BACKGROUND;
    ctx.fillRect(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
    ctx.restore();
    let running = false;
    for (const item of this.#items) {
      const p = progress(item, time);
      if (p < 1) running = true;
      const shape = SHAPES[item.type];
      if (shape.draw && p > 0) {
        ctx.save();
        drawItem(ctx, item, shape, p);
        ctx.restore();
      }
    }
    return running;
  }

  /** The LaTeX on the board, for the page to overlay: {key, x, y, latex, color, font_size, opacity}. */
  get latexItems() {
    const time = this.#now();
    return this.#items
      .filter((item) => item.type === "latex")
      .map((item) => ({
        key: item.key, x: item.x, y: item.y, latex: item.latex, color: item.color,
        font_size: item.font_size, opacity: progress(item, time),
      }));
  }

  get size() {
    return this.#items.length;
  }
}

function progress(item, time) {
  if (!item.animation) return 1;
  const ratio = (time - item.executedAt) / item.animation.duration;
  return Number.isFinite(ratio) ? clamp01(ratio) : 1; // (a broken clock shows it complete)
}

function drawItem(ctx, item, shape, p) {
  const kind = item.animation?.kind;
  if (kind === "fade_in") ctx.globalAlpha = p;
  if (kind === "grow" && p < 1) {
    const [cx, cy] = shape.center(item, ctx);
    ctx.translate(cx, cy);
    ctx.scale(p, p);
    ctx.translate(-cx, -cy);
  }
  shape.draw(ctx, item, kind === "draw" ? p : 1);
}
