// The lesson as the student sees it, assembled from the server's lesson events
// (docs/socket-events.md): steps with their text, the drawings of each lesson, what is on
// screen, and whether it streams, is paused or has ended.
//
// Every lesson event carries a per-session `seq`, consecutive across the session. Events are
// applied in `seq` order exactly once: a repeat (replayed after a reconnect and also live) is
// dropped, and one that arrives early waits for the ones before it. A gap that is never filled
// (events older than what the server keeps) is skipped after `gapTimeoutMs`.

const LESSON_EVENTS = new Set([
  "explanation_start",
  "step_start",
  "content_chunk",
  "canvas_command",
  "step_complete",
  "explanation_complete",
  "feedback_request",
  "explanation_paused",
  "explanation_resumed",
  "explanation_stopped",
  "continue_offer",
  "error",
]);

export function isLessonEvent(name) {
  return LESSON_EVENTS.has(name);
}

export class LessonAssembler {
  constructor({ gapTimeoutMs = 1500, now = () => Date.now() } = {}) {
    this.gapTimeoutMs = gapTimeoutMs;
    this.now = now;
    this.reset();
  }

  // A new session: nothing seen, nothing on screen.
  reset() {
    this.lastSeq = 0;
    this.pending = new Map(); // seq -> [name, payload], arrived before an earlier seq
    this.waitingSince = null;
    this.lessons = new Map(); // explanation_id -> lesson
    this.currentId = null; // the lesson on screen
    this.offer = null; // continue_offer: the lesson that can be resumed after a follow-up
    this.feedback = null; // feedback_request of the latest finished lesson
    this.failure = null; // an error during a lesson: {code, message}
  }

  get current() {
    return this.currentId ? this.lessons.get(this.currentId) ?? null : null;
  }

  // The lesson that was interrupted by the one on screen, if any.
  get parent() {
    const lesson = this.current;
    return lesson?.parentId ? this.lessons.get(lesson.parentId) ?? null : null;
  }

  // Takes one event as received. Returns true when what is on screen may have changed.
  receive(name, payload) {
    if (!payload || typeof payload !== "object") return false;
    const seq = payload.seq;
    if (!Number.isInteger(seq)) {
      // An error not tied to a lesson (a refused question) is the caller's to show.
      return name === "error" ? false : this.#apply(name, payload);
    }
    if (seq <= this.lastSeq || this.pending.has(seq)) return false; // already seen
    if (seq !== this.lastSeq + 1 && this.lastSeq !== 0) {
      this.pending.set(seq, [name, payload]);
      this.waitingSince ??= this.now();
      return this.flush();
    }
    this.lastSeq = seq;
    const changed = this.#apply(name, payload);
    return this.#drain() || changed;
  }

  // Applies what waited for a gap that is not going to be filled. Call it on a timer.
  flush() {
    if (!this.pending.size || this.now() - this.waitingSince < this.gapTimeoutMs) return false;
    this.lastSeq = Math.min(...this.pending.keys()) - 1;
    return this.#drain();
  }

  #drain() {
    let changed = false;
    while (this.pending.has(this.lastSeq + 1)) {
      const [name, payload] = this.pending.get(this.lastSeq + 1);
      this.pending.delete(this.lastSeq + 1);
      this.lastSeq += 1;
      changed = this.#apply(name, payload) || changed;
    }
    this.waitingSince = this.pending.size ? this.now() : null;
    return changed;
  }

  #lesson(id) {
    return this.lessons.get(id) ?? null;
  }

  #step(lesson, number) {
    if (!lesson || !Number.isInteger(number) || number < 1 || number > 500) return null;
    let step = lesson.steps.find((s) => s.number === number);
    if (!step) {
      step = { number, title: "", contentType: "text", text: "", complete: false };
      lesson.steps.push(step);
      lesson.steps.sort((a, b) => a.number - b.number);
    }
    return step;
  }

  #apply(name, p) {
    // A lesson's error names no lesson: it is about the one on screen.
    const lesson = this.#lesson(name === "error" ? p.explanation_id ?? this.currentId : p.explanation_id);
    switch (name) {
      case "explanation_start": {
        this.lessons.set(p.explanation_id, {
          id: p.explanation_id,
          kind: p.kind === "interruption" ? "interruption" : "lesson",
          parentId: p.parent_explanation_id ?? null,
          totalSteps: p.total_steps ?? 0,
          estimatedDuration: p.estimated_duration ?? 0,
          answerId: p.answer_id ?? null,
          beingWritten: Boolean(p.being_written),
          steps: [],
          stepNumber: 0,
          position: 0,
          commands: [], // canvas commands in the order they were sent
          status: "streaming",
        });
        if (p.kind !== "interruption") {
          for (const id of [...this.lessons.keys()]) if (id !== p.explanation_id) this.lessons.delete(id);
        }
        this.currentId = p.explanation_id;
        this.offer = null;
        this.feedback = null;
        this.failure = null;
        return true;
      }
      case "step_start": {
        const step = this.#step(lesson, p.step_number);
        if (!step) return false;
        step.title = String(p.title ?? "");
        step.contentType = String(p.content_type ?? "text");
        lesson.stepNumber = p.step_number;
        return true;
      }
      case "content_chunk": {
        const step = this.#step(lesson, p.step_number);
        if (!step || typeof p.chunk !== "string") return false;
        // `position` is the offset just past the chunk, in characters (code points, as the
        // server counts them): it says where the chunk goes.
        const chars = [...step.text];
        const start = Number.isInteger(p.position) ? p.position - [...p.chunk].length : chars.length;
        step.text = start >= 0 && start <= chars.length ? chars.slice(0, start).join("") + p.chunk : step.text + p.chunk;
        lesson.stepNumber = p.step_number;
        lesson.position = start >= 0 ? start + [...p.chunk].length : chars.length;
        if (p.is_final) step.complete = true;
        return true;
      }
      case "canvas_command": {
        if (!lesson || !p.command || typeof p.command !== "object") return false;
        lesson.commands.push(p.command);
        return true;
      }
      case "step_complete": {
        const step = this.#step(lesson, p.step_number);
        if (!step) return false;
        step.complete = true;
        return true;
      }
      case "explanation_complete":
        if (!lesson) return false;
        lesson.status = "complete";
        return true;
      case "feedback_request":
        this.feedback = { explanationId: p.explanation_id, answerId: p.answer_id ?? null };
        return true;
      case "explanation_paused":
        return this.#status(lesson, "paused", p);
      case "explanation_resumed":
        if (!lesson) return false;
        this.currentId = lesson.id;
        this.offer = null;
        this.failure = null;
        return this.#status(lesson, "streaming", p);
      case "explanation_stopped":
        return this.#status(lesson, "stopped", p);
      case "continue_offer":
        if (!lesson) return false;
        lesson.status = "paused";
        this.offer = { explanationId: lesson.id, message: String(p.message ?? "") };
        return true;
      case "error":
        // The lesson ends here, unless the server says it left it paused (explanation_paused
        // follows). A follow-up that failed leaves the lesson it interrupted to continue.
        this.failure = { code: p.code, message: p.message, details: p.details ?? null };
        if (lesson && lesson.status === "streaming") lesson.status = "failed";
        if (lesson?.parentId && this.lessons.has(lesson.parentId)) {
          this.offer = { explanationId: lesson.parentId, message: "¿Seguimos con la explicación anterior?" };
        }
        return true;
      default:
        return false;
    }
  }

  #status(lesson, status, p) {
    if (!lesson) return false;
    lesson.status = status;
    if (Number.isInteger(p.step_number)) lesson.stepNumber = p.step_number;
    if (Number.isInteger(p.position)) lesson.position = p.position;
    return true;
  }
}
