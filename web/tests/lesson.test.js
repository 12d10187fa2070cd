import { describe, it, expect } from "vitest";
import { LessonAssembler } from "../src/lib/lesson.js";

// A lesson of two steps as the server streams it, each event with its consecutive seq.
function lessonEvents(id = "L1", firstSeq = 1) {
  let seq = firstSeq;
  const e = (name, payload) => [name, { explanation_id: id, seq: seq++, ...payload }];
  return [
    e("explanation_start", { total_steps: 2, estimated_duration: 40, answer_id: "A1", kind: "lesson", parent_explanation_id: null }),
    e("step_start", { step_number: 1, title: "Idea", content_type: "text" }),
    e("content_chunk", { step_number: 1, chunk: "La derivada ", position: 12, is_final: false }),
    e("canvas_command", { step_number: 1, command: { type: "line", x1: 0, y1: 0, x2: 10, y2: 10 } }),
    e("content_chunk", { step_number: 1, chunk: "mide $f'(x)$.", position: 25, is_final: true }),
    e("step_complete", { step_number: 1, duration_actual: 900 }),
    e("step_start", { step_number: 2, title: "Ejemplo", content_type: "example" }),
    e("content_chunk", { step_number: 2, chunk: "Si $f(x)=x^2$, ", position: 15, is_final: false }),
    e("content_chunk", { step_number: 2, chunk: "$f'(x)=2x$.", position: 26, is_final: true }),
    e("step_complete", { step_number: 2, duration_actual: 800 }),
    e("explanation_complete", { total_duration: 1700, steps_completed: 2 }),
    e("feedback_request", { answer_id: "A1" }),
  ];
}

function feed(assembler, events) {
  for (const [name, payload] of events) assembler.receive(name, payload);
}

describe("LessonAssembler", () => {
  it("assembles the steps' text exactly from the chunks, with the drawings", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents());
    const lesson = a.current;
    expect(lesson.steps.map((s) => [s.number, s.title, s.text, s.complete])).toEqual([
      [1, "Idea", "La derivada mide $f'(x)$.", true],
      [2, "Ejemplo", "Si $f(x)=x^2$, $f'(x)=2x$.", true],
    ]);
    expect(lesson.commands).toEqual([{ type: "line", x1: 0, y1: 0, x2: 10, y2: 10 }]);
    expect(lesson.status).toBe("complete");
    expect(a.feedback).toEqual({ explanationId: "L1", answerId: "A1" });
  });

  it("drops an event seen twice (replayed after a reconnect and also live)", () => {
    const a = new LessonAssembler();
    const events = lessonEvents();
    feed(a, events.slice(0, 5));
    feed(a, events.slice(2, 8)); // the replay repeats 3..5
    expect(a.current.steps[0].text).toBe("La derivada mide $f'(x)$.");
    expect(a.current.commands).toHaveLength(1);
    expect(a.current.steps[1].text).toBe("Si $f(x)=x^2$, ");
  });

  it("applies events in seq order when a later one arrives first", () => {
    const a = new LessonAssembler();
    const events = lessonEvents();
    feed(a, events.slice(0, 3));
    a.receive(...events[4]); // seq 5 before seq 4
    expect(a.current.steps[0].text).toBe("La derivada ");
    a.receive(...events[3]);
    expect(a.current.steps[0].text).toBe("La derivada mide $f'(x)$.");
    expect(a.lastSeq).toBe(5);
  });

  it("skips a gap that is never filled after its timeout", () => {
    let clock = 0;
    const a = new LessonAssembler({ gapTimeoutMs: 1000, now: () => clock });
    const events = lessonEvents();
    feed(a, events.slice(0, 2));
    a.receive(...events[3]); // seq 3 (a chunk) never comes
    expect(a.current.commands).toHaveLength(0);
    clock = 999;
    expect(a.flush()).toBe(false);
    clock = 1000;
    expect(a.flush()).toBe(true);
    expect(a.current.commands).toHaveLength(1);
  });

  it("pauses and resumes at the server's position, and a follow-up keeps the lesson to go back to", () => {
    const a = new LessonAssembler();
    const events = lessonEvents();
    feed(a, events.slice(0, 3));
    let seq = 4;
    a.receive("explanation_paused", { explanation_id: "L1", seq: seq++, step_number: 1, position: 12 });
    expect(a.current.status).toBe("paused");
    a.receive("explanation_start", { explanation_id: "F1", seq: seq++, total_steps: 1, kind: "interruption", parent_explanation_id: "L1" });
    expect(a.current.id).toBe("F1");
    expect(a.parent.id).toBe("L1");
    a.receive("step_start", { explanation_id: "F1", seq: seq++, step_number: 1, title: "Tu duda" });
    a.receive("content_chunk", { explanation_id: "F1", seq: seq++, step_number: 1, chunk: "Porque sí.", position: 10, is_final: true });
    a.receive("explanation_complete", { explanation_id: "F1", seq: seq++ });
    a.receive("continue_offer", { explanation_id: "L1", seq: seq++, step_number: 1, position: 12, message: "¿Seguimos?" });
    expect(a.offer).toEqual({ explanationId: "L1", message: "¿Seguimos?" });
    a.receive("explanation_resumed", { explanation_id: "L1", seq: seq++, step_number: 1, position: 12 });
    expect(a.current.id).toBe("L1");
    expect(a.current.status).toBe("streaming");
    expect(a.offer).toBeNull();
    a.receive("content_chunk", { explanation_id: "L1", seq: seq++, step_number: 1, chunk: "mide $f'(x)$.", position: 25, is_final: true });
    expect(a.current.steps[0].text).toBe("La derivada mide $f'(x)$.");
  });

  it("a lesson's error (which names no lesson) ends the one on screen, or leaves it paused when the server says so", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents("L1").slice(0, 4));
    a.receive("error", { seq: 5, code: "AI_UNAVAILABLE", message: "x" });
    expect(a.current.status).toBe("failed");
    expect(a.failure.code).toBe("AI_UNAVAILABLE");
    const b = new LessonAssembler();
    feed(b, lessonEvents("L1").slice(0, 4));
    b.receive("error", { seq: 5, code: "INTERNAL_ERROR", message: "x" });
    b.receive("explanation_paused", { explanation_id: "L1", seq: 6, step_number: 1, position: 12 });
    expect(b.current.status).toBe("paused");
  });

  it("a follow-up that fails offers to continue the lesson it interrupted", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents("L1").slice(0, 3));
    a.receive("explanation_paused", { explanation_id: "L1", seq: 4, step_number: 1, position: 12 });
    a.receive("explanation_start", { explanation_id: "F1", seq: 5, total_steps: 1, kind: "interruption", parent_explanation_id: "L1" });
    a.receive("error", { seq: 6, code: "AI_UNAVAILABLE", message: "x" });
    expect(a.current.status).toBe("failed");
    expect(a.offer.explanationId).toBe("L1");
  });

  it("positions count characters as the server does, emoji included", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents("L1").slice(0, 2));
    a.receive("content_chunk", { explanation_id: "L1", seq: 3, step_number: 1, chunk: "Mira 👉 ", position: 7 });
    a.receive("content_chunk", { explanation_id: "L1", seq: 4, step_number: 1, chunk: "esto 🙂🙂.", position: 15 });
    expect(a.current.steps[0].text).toBe("Mira 👉 esto 🙂🙂.");
    expect(a.current.position).toBe(15);
  });

  it("a new lesson replaces the old one", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents("L1").slice(0, 4));
    a.receive("error", { explanation_id: "L1", seq: 5, code: "AI_UNAVAILABLE", message: "x" });
    feed(a, lessonEvents("L2", 6).slice(0, 3));
    expect(a.current.id).toBe("L2");
    expect(a.lessons.has("L1")).toBe(false);
    expect(a.failure).toBeNull();
  });

  it("ignores malformed events without breaking the lesson", () => {
    const a = new LessonAssembler();
    const events = lessonEvents();
    feed(a, events.slice(0, 2));
    a.receive("content_chunk", null);
    a.receive("content_chunk", { explanation_id: "L1", seq: 3, step_number: -1, chunk: "x" });
    a.receive("canvas_command", { explanation_id: "nope", seq: 4, command: {} });
    a.receive("error", { code: "INVALID_INPUT", message: "no" }); // not a lesson's: the caller's
    a.receive("content_chunk", { explanation_id: "L1", seq: 5, step_number: 1, chunk: "Hola", position: 4 });
    expect(a.current.steps.map((s) => s.text)).toEqual(["Hola"]);
    expect(a.failure).toBeNull();
  });

  it("after reset (a new session) any seq starts over", () => {
    const a = new LessonAssembler();
    feed(a, lessonEvents());
    a.reset();
    expect(a.current).toBeNull();
    feed(a, lessonEvents("L9").slice(0, 3));
    expect(a.current.steps[0].text).toBe("La derivada ");
  });
});
