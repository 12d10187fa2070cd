import { describe, it, expect } from "vitest";
import { Board, BOARD_WIDTH, BOARD_HEIGHT } from "../src/lib/canvas.js";

// A 2D context that records what is drawn: every method call with its arguments and the state
// at that moment (styles, alpha, font, dash), every property assignment, and save/restore.
const TRACKED = ["strokeStyle", "fillStyle", "globalAlpha", "lineWidth", "font", "textAlign",
  "textBaseline", "lineCap", "lineJoin"];

function recordingContext() {
  let state = { globalAlpha: 1, lineDash: [], textAlign: "start", textBaseline: "alphabetic" };
  const stack = [];
  const calls = [];
  const methods = {
    save: () => stack.push({ ...state }),
    restore: () => { state = stack.pop() ?? state; },
    setLineDash: (dash) => { state.lineDash = [...dash]; },
    measureText: (text) => ({ width: 10 * text.length }),
  };
  const ctx = new Proxy({}, {
    get(_, name) {
      if (name === "calls") return calls;
      if (name === "depth") return stack.length;
      if (TRACKED.includes(name)) return state[name];
      return (...args) => {
        calls.push({ name, args, state: { ...state } });
        return methods[name]?.(...args);
      };
    },
    set(_, name, value) {
      calls.push({ name: `=${String(name)}`, args: [value], state: { ...state } });
      state[name] = value;
      return true;
    },
  });
  return ctx;
}

const named = (ctx, name) => ctx.calls.filter((call) => call.name === name);
const argsOf = (ctx, name) => named(ctx, name).map((call) => call.args);

function clock(start = 1000) {
  const time = { now: start };
  return { time, now: () => time.now };
}

function drawn(...commands) {
  const board = new Board({ now: () => 0 });
  for (const command of commands) board.execute(command);
  const ctx = recordingContext();
  board.render(ctx);
  return { board, ctx };
}

describe("board basics", () => {
  it("is 800x600 and paints a white background first", () => {
    expect([BOARD_WIDTH, BOARD_HEIGHT]).toEqual([800, 600]);
    const { ctx } = drawn();
    const first = named(ctx, "fillRect")[0];
    expect(first.args).toEqual([0, 0, 800, 600]);
    expect(first.state.fillStyle).toBe("#ffffff");
  });

  it("keeps save and restore balanced", () => {
    const { ctx } = drawn(
      { type: "line", x1: 0, y1: 0, x2: 10, y2: 10, dashed: true },
      { type: "text", x: 5, y: 5, text: "hola" },
    );
    expect(named(ctx, "save").length).toBe(named(ctx, "restore").length);
    expect(ctx.depth).toBe(0);
    // The dash of the line does not leak into the text after it.
    expect(named(ctx, "fillText")[0].state.lineDash).toEqual([]);
  });
});

describe("each type draws where the command says", () => {
  it("rectangle: fill before stroke, in its colors", () => {
    const { ctx } = drawn({
      type: "rectangle", x: 80, y: 70, width: 70, height: 60, color: "#c0392b",
      stroke_width: 3, fill: "#ecf0f1",
    });
    expect(argsOf(ctx, "rect")).toEqual([[80, 70, 70, 60]]);
    const fill = named(ctx, "fill")[0];
    const stroke = named(ctx, "stroke")[0];
    expect(fill.state.fillStyle).toBe("#ecf0f1");
    expect(stroke.state.strokeStyle).toBe("#c0392b");
    expect(stroke.state.lineWidth).toBe(3);
    expect(ctx.calls.indexOf(fill)).toBeLessThan(ctx.calls.indexOf(stroke));
  });

  it("rectangle with corner_radius uses arcTo and defaults its color and width", () => {
    const { ctx } = drawn({ type: "rectangle", x: 10, y: 10, width: 100, height: 50, corner_radius: 8 });
    expect(argsOf(ctx, "arcTo")).toHaveLength(4);
    expect(argsOf(ctx, "arcTo")[0]).toEqual([110, 10, 110, 60, 8]);
    expect(named(ctx, "roundRect")).toHaveLength(0);
    expect(named(ctx, "fill")).toHaveLength(0);
    expect(named(ctx, "stroke")[0].state).toMatchObject({ strokeStyle: "#2c3e50", lineWidth: 2 });
  });

  it("circle: an arc at its center and radius, a full turn, filled", () => {
    const { ctx } = drawn({ type: "circle", x: 144, y: 466, radius: 7, color: "#2980b9", fill: "red" });
    const [[x, y, r, from, to]] = argsOf(ctx, "arc");
    expect([x, y, r]).toEqual([144, 466, 7]);
    expect(to - from).toBeCloseTo(2 * Math.PI);
    expect(named(ctx, "fill")[0].state.fillStyle).toBe("red");
    expect(named(ctx, "stroke")[0].state.strokeStyle).toBe("#2980b9");
  });

  it("line: from one end to the other, dashed when asked", () => {
    const { ctx } = drawn({ type: "line", x1: 70, y1: 480, x2: 730, y2: 480, dashed: true });
    expect(argsOf(ctx, "moveTo")).toEqual([[70, 480]]);
    expect(argsOf(ctx, "lineTo")).toEqual([[730, 480]]);
    expect(named(ctx, "stroke")[0].state.lineDash).toEqual([8, 6]);
  });

  it("arrow: a shaft and a filled head of head_size (10 by default) at its tip", () => {
    const { ctx } = drawn({ type: "arrow", x1: 100, y1: 100, x2: 200, y2: 100, color: "blue" });
    expect(argsOf(ctx, "moveTo")).toEqual([[100, 100], [200, 100]]);
    const [, ...head] = argsOf(ctx, "lineTo");
    expect(head).toHaveLength(2);
    for (const [x, y] of head) {
      expect(Math.hypot(x - 200, y - 100)).toBeCloseTo(10);
      expect(x).toBeLessThan(200);
    }
    expect(named(ctx, "fill")[0].state.fillStyle).toBe("blue");
  });

  it("text: fillText at x, y on its baseline, in its font, color and alignment", () => {
    const { ctx } = drawn(
      { type: "text", x: 520, y: 120, text: "Datos (n = 8):", color: "#2c3e50", font_size: 18, bold: true },
      { type: "text", x: 400, y: 300, text: "centro", align: "center", color: "#c0392b" },
    );
    const [bold, centered] = named(ctx, "fillText");
    expect(bold.args).toEqual(["Datos (n = 8):", 520, 120]);
    expect(bold.state.font).toMatch(/^bold 18px /);
    expect(bold.state).toMatchObject({ fillStyle: "#2c3e50", textAlign: "left", textBaseline: "alphabetic" });
    expect(centered.args).toEqual(["centro", 400, 300]);
    expect(centered.state.font).toMatch(/^20px /);
    expect(centered.state).toMatchObject({ fillStyle: "#c0392b", textAlign: "center" });
  });

  it("polygon: a closed path through its points; polyline an open one", () => {
    const { ctx } = drawn(
      { type: "polygon", points: [[10, 10], [50, 10], [30, 40]], fill: "#ff000080" },
      { type: "polyline", points: [[216, 450], [216, 434], [200, 434]], stroke_width: 1.5 },
    );
    expect(argsOf(ctx, "moveTo")).toEqual([[10, 10], [216, 450]]);
    expect(argsOf(ctx, "lineTo")).toEqual([[50, 10], [30, 40], [216, 434], [200, 434]]);
    expect(named(ctx, "closePath")).toHaveLength(1);
    expect(named(ctx, "fill")[0].state.fillStyle).toBe("#ff000080");
    expect(named(ctx, "stroke")[1].state.lineWidth).toBe(1.5);
  });

  it("highlight: filled in translucent yellow by default, never stroked", () => {
    const { ctx } = drawn({ type: "highlight", x: 240, y: 176, width: 320, height: 140 });
    const [, highlight] = named(ctx, "fillRect");
    expect(highlight.args).toEqual([240, 176, 320, 140]);
    expect(highlight.state.fillStyle).toBe("#ffeb3b80");
    expect(named(ctx, "stroke")).toHaveLength(0);
  });

  it("accepts every color form the doc allows", () => {
    const board = new Board({ now: () => 0 });
    for (const color of ["#abc", "#abcd", "#aabbcc", "#aabbccdd", "Navy", "transparent", "grey"]) {
      expect(board.execute({ type: "circle", x: 1, y: 1, radius: 1, color })).toBe(true);
    }
  });
});

describe("axes", () => {
  const axes = {
    type: "axes", x: 100, y: 100, width: 400, height: 400,
    x_min: -2, x_max: 2, y_min: -2, y_max: 2, grid: true, x_label: "x", y_label: "y",
    x_ticks: [
      { value: -1, position: 200, label: "-1" }, { value: 0, position: 300, label: "0" },
      { value: 1, position: 400, label: "1" },
    ],
    y_ticks: [{ value: 1, position: 200, label: "1" }, { value: -1, position: 400, label: "-1" }],
  };

  it("draws the axes through the origin, tick labels from the ticks, and the axis names", () => {
    const { ctx } = drawn(axes);
    const strokes = argsOf(ctx, "moveTo").map((from, i) => [...from, ...argsOf(ctx, "lineTo")[i]]);
    expect(strokes).toContainEqual([100, 300, 500, 300]); // x axis at y = 0
    expect(strokes).toContainEqual([300, 500, 300, 100]); // y axis at x = 0
    expect(strokes).toContainEqual([200, 100, 200, 500]); // a grid line at x = -1
    const gridLine = named(ctx, "stroke")[0];
    expect(gridLine.state.strokeStyle).toBe("#dfe6e9");
    const texts = named(ctx, "fillText");
    expect(texts.map((t) => t.args[0])).toEqual(["-1", "1", "1", "-1", "x", "y"]);
    expect(texts[0].args.slice(1)).toEqual([200, 316]);
    expect(texts[0].state).toMatchObject({ textAlign: "center", fillStyle: "#2c3e50" });
    expect(texts[0].state.font).toMatch(/^12px /);
    expect(texts[2].args.slice(1)).toEqual([293, 204]);
    expect(texts[2].state.textAlign).toBe("right");
  });

  it("puts an axis along the box's edge when 0 is outside the view", () => {
    const { ctx } = drawn({ ...axes, x_min: 1, x_max: 5, y_min: 1, y_max: 5, grid: false });
    const strokes = argsOf(ctx, "moveTo").map((from, i) => [...from, ...argsOf(ctx, "lineTo")[i]]);
    expect(strokes).toContainEqual([100, 500, 500, 500]);
    expect(strokes).toContainEqual([100, 500, 100, 100]);
  });

  it("skips malformed ticks and refuses an empty view", () => {
    const board = new Board({ now: () => 0 });
    expect(board.execute({ ...axes, x_ticks: [{ value: 1, position: "x", label: "1" }, null] })).toBe(true);
    expect(board.execute({ ...axes, x_min: 3, x_max: 3 })).toBe(false);
  });
});

describe("clear and bad commands", () => {
  it("clear wipes the board, LaTeX included", () => {
    const board = new Board({ now: () => 0 });
    board.execute({ type: "circle", x: 10, y: 10, radius: 5 });
    board.execute({ type: "latex", x: 10, y: 10, latex: "x^2" });
    expect(board.size).toBe(2);
    expect(board.execute({ type: "clear", at: 0 })).toBe(true);
    expect(board.size).toBe(0);
    expect(board.latexItems).toEqual([]);
    const ctx = recordingContext();
    board.render(ctx);
    expect(named(ctx, "arc")).toHaveLength(0);
  });

  it("skips unknown or malformed commands without breaking later ones", () => {
    const board = new Board({ now: () => 0 });
    const bad = [
      null, 42, "circle", [], {}, { type: "spiral", x: 1 }, { type: "constructor" },
      { type: "__proto__" }, { type: "circle", x: 10, y: 10 },
      { type: "circle", x: NaN, y: 10, radius: 5 }, { type: "circle", x: 10, y: 10, radius: -5 },
      { type: "circle", x: 10, y: Infinity, radius: 5 }, { type: "circle", x: "10", y: 10, radius: 5 },
      { type: "line", x1: 0, y1: 0, x2: 1, y2: 1, color: "rgb(0,0,0)" },
      { type: "line", x1: 0, y1: 0, x2: 1, y2: 1, color: "#12345" },
      { type: "text", x: 1, y: 1, text: "" }, { type: "text", x: 1, y: 1, text: 5 },
      { type: "polygon", points: [[0, 0], [1, 1]] },
      { type: "polyline", points: [[0, 0], [1, "a"]] },
      { type: "polyline", points: Array.from({ length: 100_000 }, () => [0, 0]) },
      { type: "rectangle", x: 1, y: 1, width: 0, height: 5 },
      { type: "function_plot", expr: "x^2" }, { type: "template", name: "parabola", params: {} },
    ];
    for (const command of bad) expect(board.execute(command)).toBe(false);
    expect(board.size).toBe(0);
    expect(board.execute({ type: "line", x1: 1, y1: 2, x2: 3, y2: 4 })).toBe(true);
    const ctx = recordingContext();
    board.render(ctx);
    expect(argsOf(ctx, "lineTo")).toEqual([[3, 4]]);
  });

  it("keeps a drawing whose animation is broken, without the animation", () => {
    const board = new Board({ now: () => 0 });
    expect(board.execute({ type: "circle", x: 1, y: 1, radius: 1, animation: { kind: "spin" } })).toBe(true);
    expect(board.render(recordingContext())).toBe(false);
  });

  it("bounds a text to 300 characters", () => {
    const { ctx } = drawn({ type: "text", x: 1, y: 1, text: "a".repeat(5000) });
    expect(argsOf(ctx, "fillText")[0][0]).toHaveLength(300);
  });
});

describe("animations", () => {
  it("draw: half the time shows half a line", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "line", x1: 100, y1: 100, x2: 300, y2: 200, animation: { kind: "draw", duration_ms: 1000 } });
    const ctx = recordingContext();
    board.render(ctx, time.now + 500);
    expect(argsOf(ctx, "moveTo")).toEqual([[100, 100]]);
    expect(argsOf(ctx, "lineTo")).toEqual([[200, 150]]);
  });

  it("draw: the arrow head comes only once the shaft is complete", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "arrow", x1: 0, y1: 0, x2: 100, y2: 0, animation: { kind: "draw", duration_ms: 400 } });
    const half = recordingContext();
    board.render(half, time.now + 200);
    expect(named(half, "fill")).toHaveLength(0);
    const done = recordingContext();
    board.render(done, time.now + 400);
    expect(named(done, "fill")).toHaveLength(1);
  });

  it("draw: a text is revealed character by character from where it starts", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    const animation = { kind: "draw", duration_ms: 1000 };
    board.execute({ type: "text", x: 50, y: 60, text: "Hola mundo", animation });
    board.execute({ type: "text", x: 400, y: 90, text: "abcd", align: "center", animation });
    const ctx = recordingContext();
    board.render(ctx, time.now + 500);
    expect(argsOf(ctx, "fillText")).toEqual([["Hola ", 50, 60], ["ab", 380, 90]]);
  });

  it("draw: a circle by its arc, filled at the end", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "circle", x: 50, y: 50, radius: 20, fill: "red", animation: { duration_ms: 1000 } });
    const ctx = recordingContext();
    board.render(ctx, time.now + 250);
    const [[, , , from, to]] = argsOf(ctx, "arc");
    expect(to - from).toBeCloseTo(Math.PI / 2);
    expect(named(ctx, "fill")).toHaveLength(0);
  });

  it("fade_in: globalAlpha follows the progress", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "circle", x: 50, y: 50, radius: 20, animation: { kind: "fade_in", duration_ms: 800 } });
    const ctx = recordingContext();
    board.render(ctx, time.now + 400);
    expect(named(ctx, "arc")[0].state.globalAlpha).toBeCloseTo(0.5);
    expect(named(ctx, "arc")[0].args[4] - named(ctx, "arc")[0].args[3]).toBeCloseTo(2 * Math.PI);
  });

  it("grow: scales about the shape's center", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "rectangle", x: 100, y: 100, width: 200, height: 100, animation: { kind: "grow", duration_ms: 1000 } });
    const ctx = recordingContext();
    board.render(ctx, time.now + 250);
    expect(argsOf(ctx, "translate")).toEqual([[200, 150], [-200, -150]]);
    expect(argsOf(ctx, "scale")).toEqual([[0.25, 0.25]]);
  });

  it("render is true while an animation runs and false after", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "line", x1: 0, y1: 0, x2: 10, y2: 0 });
    expect(board.render(recordingContext())).toBe(false);
    board.execute({ type: "polyline", points: [[0, 0], [5, 5]], animation: { kind: "draw", duration_ms: 300 } });
    expect(board.render(recordingContext(), time.now)).toBe(true);
    expect(board.render(recordingContext(), time.now + 299)).toBe(true);
    expect(board.render(recordingContext(), time.now + 300)).toBe(false);
    board.execute({ type: "line", x1: 0, y1: 0, x2: 1, y2: 1, animation: { kind: "draw", duration_ms: 0 } });
    expect(board.render(recordingContext(), time.now + 300)).toBe(false);
  });

  it("latexItems lists the LaTeX with stable keys and its opacity", () => {
    const { time, now } = clock();
    const board = new Board({ now });
    board.execute({ type: "latex", x: 640, y: 250, latex: "\\bar{x}", color: "#2980b9", font_size: 28 });
    board.execute({ type: "circle", x: 1, y: 1, radius: 1 });
    board.execute({ type: "latex", x: 100, y: 100, latex: "x^2", animation: { kind: "fade_in", duration_ms: 1000 } });
    time.now += 250;
    const items = board.latexItems;
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ x: 640, y: 250, latex: "\\bar{x}", color: "#2980b9", font_size: 28, opacity: 1 });
    expect(items[1]).toMatchObject({ latex: "x^2", color: "#2c3e50", font_size: 22, opacity: 0.25 });
    expect(items[1].key).toBeGreaterThan(items[0].key);
    expect(board.latexItems.map((item) => item.key)).toEqual(items.map((item) => item.key));
    // LaTeX is overlaid by the page, never drawn on the canvas, but keeps frames coming.
    const ctx = recordingContext();
    expect(board.render(ctx)).toBe(true);
    expect(named(ctx, "fillText")).toHaveLength(0);
  });
});
