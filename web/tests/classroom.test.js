import { describe, it, expect, beforeEach, vi } from "vitest";
import { Classroom } from "../src/lib/classroom.js";

// The page's side of the protocol, driven event by event. The real socket is exercised by the
// browser tests (tests/e2e); here the server is this test, answering what the page sends.
class TestSocket {
  constructor() {
    this.handlers = new Map();
    this.any = [];
    this.sent = [];
    this.acks = []; // [name, payload, callback] waiting for the test to answer
    this.connected = true;
  }
  on(name, handler) {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), handler]);
  }
  onAny(handler) {
    this.any.push(handler);
  }
  emit(name, payload, callback) {
    this.sent.push([name, payload]);
    if (callback) this.acks.push([name, payload, callback]);
  }
  timeout() {
    return { emit: (name, payload, callback) => this.emit(name, payload, (...args) => callback(null, ...args)) };
  }
  connect() {}
  close() {}
  // The server sends an event.
  serve(name, payload) {
    for (const handler of this.any) handler(name, payload);
    for (const handler of this.handlers.get(name) ?? []) handler(payload);
  }
  named(name) {
    return this.sent.filter(([n]) => n === name).map(([, payload]) => payload);
  }
}

function memoryStorage() {
  const data = new Map();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k) };
}

let socket;
let classroom;
let view;

beforeEach(() => {
  vi.useFakeTimers();
  socket = new TestSocket();
  classroom = new Classroom({ getToken: () => "t", storage: memoryStorage(), openSocket: () => socket, onChange: (snapshot) => (view = snapshot) });
  classroom.connect();
  socket.serve("connection_established", { session_id: "S1", resumed: false, user_info: { email: "a@b.c" } });
});

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("Classroom", () => {
  it("a confident transcription is asked once; refused, it waits for the student to confirm", async () => {
    classroom.voiceStart();
    socket.serve("voice_recording_started", { recording_id: "R1", max_duration_ms: 60000, max_chunk_bytes: 60000, lesson_paused: false });
    classroom.voiceTranscript("¿Qué es una derivada?", 0.97);
    socket.serve("voice_transcription_result", { transcription: "¿Qué es una derivada?", confidence: 0.97, requires_confirmation: false, source: "browser" });
    expect(socket.named("voice_confirm")).toEqual([{ transcription: "¿Qué es una derivada?" }]);
    socket.serve("error", { code: "RATE_LIMIT_EXCEEDED", message: "Espera.", retry_after: 5 });
    await flush();
    expect(view.voice.state).toBe("confirm");
    expect(view.voice.requiresConfirmation).toBe(true);
    expect(socket.named("voice_confirm")).toHaveLength(1); // no loop
    expect(view.notice.code).toBe("RATE_LIMIT_EXCEEDED");
  });

  it("a refused recording can be recorded again: the pieces start at 0 on the same recording", async () => {
    classroom.voiceStart();
    socket.serve("voice_recording_started", { recording_id: "R1", max_duration_ms: 60000, max_chunk_bytes: 60000, lesson_paused: true });
    classroom.voiceAudio(3000);
    socket.serve("error", { code: "INVALID_INPUT", message: "No te escuchamos bien.", details: { reason: "no_speech" } });
    await flush();
    expect(view.voice.state).toBe("refused");
    classroom.voiceRecordAgain();
    expect(view.voice.state).toBe("recording");
    const sent = classroom.voiceChunk(0, "AAAA");
    socket.acks.at(-1)[2]({ index: 0, chunks_received: 1, bytes_received: 3 });
    expect(await sent).toEqual({ index: 0, chunks_received: 1, bytes_received: 3 });
    expect(socket.named("voice_chunk")[0]).toEqual({ index: 0, audio_data: "AAAA", recording_id: "R1" });
  });

  it("a voice_start that is refused gives up at once", async () => {
    const started = classroom.voiceStart();
    socket.serve("error", { code: "INVALID_INPUT", message: "Esa sesión no es la tuya.", details: { reason: "wrong_session" } });
    await expect(started).rejects.toThrow("Esa sesión no es la tuya.");
    expect(view.voice.state).toBe("idle");
  });

  it("a piece whose acknowledgement is lost is sent again", async () => {
    classroom.voiceStart();
    socket.serve("voice_recording_started", { recording_id: "R1", max_duration_ms: 60000, max_chunk_bytes: 60000, lesson_paused: false });
    socket.timeout = () => ({ emit: (name, payload, callback) => socket.emit(name, payload, (...args) => callback(...args)) });
    const sent = classroom.voiceChunk(3, "BBBB");
    socket.acks.at(-1)[2](new Error("timeout")); // lost in a network blip
    await flush();
    socket.acks.at(-1)[2](null, { index: 3, chunks_received: 4, bytes_received: 12 });
    expect(await sent).toEqual({ index: 3, chunks_received: 4, bytes_received: 12 });
    expect(socket.named("voice_chunk")).toHaveLength(2);
  });

  it("a refused question stays to be sent again; a taken one empties the box", () => {
    classroom.ask("¿Qué es un límite?");
    expect(view.pending).toBe("¿Qué es un límite?");
    socket.serve("error", { code: "DAILY_LIMIT_REACHED", message: "x" });
    expect(view.pending).toBeNull();
    expect(view.accepted).toBe(0);
    classroom.ask("¿Qué es un límite?");
    socket.serve("explanation_start", { explanation_id: "L1", seq: 1, total_steps: 1, kind: "lesson" });
    expect(view.accepted).toBe(1);
  });

  it("an expired token is refreshed and the question sent again", async () => {
    classroom.refreshToken = async () => "new-token";
    classroom.ask("¿Qué es un límite?");
    socket.serve("error", { code: "UNAUTHORIZED", message: "Tu sesión expiró." });
    await flush();
    expect(socket.named("reauthenticate")).toEqual([{ token: "new-token" }]);
    socket.serve("reauthenticated", { token_expires_at: 0 });
    expect(socket.named("ask_question")).toHaveLength(2);
    expect(view.notice).toBeNull();
  });

  it("a session that expired while away keeps what was shown, to ask it again", () => {
    classroom.ask("¿Qué es un límite?");
    socket.serve("explanation_start", { explanation_id: "L1", seq: 1, total_steps: 2, kind: "lesson" });
    socket.serve("step_start", { explanation_id: "L1", seq: 2, step_number: 1, title: "Idea" });
    socket.serve("content_chunk", { explanation_id: "L1", seq: 3, step_number: 1, chunk: "Un límite ", position: 10 });
    socket.serve("explanation_paused", { explanation_id: "L1", seq: 4, step_number: 1, position: 10 });
    socket.serve("connection_established", { session_id: "S2", resumed: false, user_info: {} });
    expect(view.lesson).toBeNull();
    expect(view.expired.question).toBe("¿Qué es un límite?");
    expect(view.expired.lesson.steps[0].text).toBe("Un límite ");
  });

  it("after a reconnect, a lesson the server paused goes on; one the student paused does not", async () => {
    socket.serve("explanation_start", { explanation_id: "L1", seq: 1, total_steps: 1, kind: "lesson" });
    socket.serve("explanation_paused", { explanation_id: "L1", seq: 2, step_number: 1, position: 0 });
    socket.serve("connection_established", { session_id: "S1", resumed: true, user_info: {} });
    await vi.advanceTimersByTimeAsync(500);
    expect(socket.named("resume_explanation")).toHaveLength(1);
    socket.serve("explanation_resumed", { explanation_id: "L1", seq: 3, step_number: 1, position: 0 });
    classroom.pause();
    socket.serve("explanation_paused", { explanation_id: "L1", seq: 4, step_number: 1, position: 0 });
    socket.serve("connection_established", { session_id: "S1", resumed: true, user_info: {} });
    await vi.advanceTimersByTimeAsync(500);
    expect(socket.named("resume_explanation")).toHaveLength(1);
  });

  it("feedback sent about a follow-up does not hide the lesson's own form", () => {
    socket.serve("explanation_start", { explanation_id: "F1", seq: 1, total_steps: 1, kind: "interruption", parent_explanation_id: null });
    socket.serve("feedback_request", { explanation_id: "F1", seq: 2, answer_id: "A2" });
    socket.serve("feedback_received", { interaction_id: "I", rating: 5 });
    expect(view.feedbackSent.explanationId).toBe("F1");
    socket.serve("feedback_request", { explanation_id: "L1", seq: 3, answer_id: "A1" });
    expect(view.feedback.explanationId).toBe("L1");
    expect(view.feedbackSent.explanationId).not.toBe(view.feedback.explanationId);
  });
});
