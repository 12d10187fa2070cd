// The student's connection to the backend over Socket.IO (docs/socket-events.md): asking,
// the lesson's controls, voice questions, feedback; and reconnecting without losing the place.
//
// The session id is kept per tab (sessionStorage): a reload or a dropped network reconnects
// with it and `last_seq`, and the server replays what was missed, so the lesson continues at
// the character where it was. State changes are reported through `onChange`.

import { io } from "socket.io-client";
import { LessonAssembler, isLessonEvent } from "./lesson.js";
import { friendlyError } from "./errors.js";

const SESSION_KEY = "pizarra.session";
const PAUSED_KEY = "pizarra.paused-by-student";

export class Classroom {
  constructor({ getToken, onChange = () => {}, onSignedOut = () => {}, storage = globalThis.sessionStorage, url = undefined }) {
    this.getToken = getToken;
    this.onChange = onChange;
    this.onSignedOut = onSignedOut;
    this.storage = storage;
    this.url = url;
    this.lesson = new LessonAssembler();
    this.status = "connecting"; // connecting | connected | reconnecting | ended
    this.user = null;
    this.waiting = null; // {phrase, category, estimated_time}
    this.notice = null; // {code, text}: the last refusal or failure, until the next action
    this.voice = { state: "idle" }; // idle | recording | transcribing | confirm
    this.feedbackSent = null; // the feedback_received of the latest lesson
    this.stepFeedback = new Map(); // step_number -> understood, for the lesson on screen
    this.sessionId = storage?.getItem(SESSION_KEY) ?? null;
    this.socket = null;
    this.ended = false;
    this.flushTimer = null;
  }

  connect() {
    this.socket = io(this.url, {
      path: "/socket.io",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      // Read at every (re)connection: the latest token, the session and the last event seen.
      auth: (send) => send({ token: this.getToken(), session_id: this.sessionId ?? undefined, last_seq: this.sessionId ? this.lesson.lastSeq : undefined }),
    });
    const socket = this.socket;
    socket.on("connection_established", (data) => {
      if (!data.resumed || data.session_id !== this.sessionId) this.lesson.reset();
      this.sessionId = data.session_id;
      this.storage?.setItem(SESSION_KEY, data.session_id);
      this.user = data.user_info;
      this.status = "connected";
      if (this.notice?.code === "NETWORK") this.notice = null;
      this.changed();
      // The server pauses a lesson whose student went away. Once what was missed has been
      // replayed, a lesson the student had not paused goes on by itself.
      if (data.resumed) setTimeout(() => this.#continueAfterReconnect(), 400);
    });
    socket.on("connect_error", (err) => {
      const data = err?.data;
      if (data?.code === "UNAUTHORIZED") {
        this.status = "ended";
        this.notice = { code: data.code, text: friendlyError(data) };
        this.changed();
        this.onSignedOut();
        return;
      }
      this.status = "reconnecting";
      this.notice = { code: data?.code ?? "NETWORK", text: friendlyError(data ?? { code: "NETWORK" }) };
      this.changed();
      if (data?.code) {
        // Refused by the server (too many connections): it does not retry by itself.
        const wait = Math.max(1, Number(data.retry_after) || 5);
        setTimeout(() => !this.ended && socket.connect(), wait * 1000);
      }
    });
    socket.on("disconnect", (reason) => {
      if (this.ended) return;
      this.status = "reconnecting";
      this.notice = { code: "NETWORK", text: friendlyError({ code: "NETWORK" }) };
      this.changed();
      if (reason === "io server disconnect") setTimeout(() => !this.ended && socket.connect(), 1000);
    });
    socket.on("session_ended", (data) => {
      this.ended = true;
      this.status = "ended";
      this.notice = {
        code: data.reason,
        text: data.reason === "replaced" ? "Tu lección continúa en otra pestaña o dispositivo." : "Cerraste sesión.",
      };
      if (data.reason === "logout") this.storage?.removeItem(SESSION_KEY);
      this.changed();
      if (data.reason === "logout") this.onSignedOut();
    });
    socket.on("waiting_phrase", (data) => {
      this.waiting = data;
      if (this.voice.state === "asking") this.voice = { state: "idle" };
      this.changed();
    });
    socket.onAny((name, data) => {
      if (!isLessonEvent(name)) return;
      if (name === "explanation_start") {
        this.waiting = null;
        if (this.voice.state === "asking") this.voice = { state: "idle" };
        this.feedbackSent = null;
        if (data?.kind !== "interruption") this.stepFeedback = new Map();
      }
      if (name === "error") this.#failed(data);
      if (this.lesson.receive(name, data) || name === "error") this.changed();
    });
    socket.on("feedback_received", (data) => {
      this.feedbackSent = data;
      this.changed();
    });
    socket.on("step_feedback_received", (data) => {
      this.stepFeedback.set(data.step_number, data.understood);
      this.changed();
    });
    socket.on("reauthenticated", () => {
      if (this.notice?.code === "UNAUTHORIZED") this.notice = null;
      this.changed();
    });
    socket.on("voice_recording_started", (data) => {
      this.voice = { state: "recording", recordingId: data.recording_id, maxDurationMs: data.max_duration_ms, maxChunkBytes: data.max_chunk_bytes, lessonPaused: data.lesson_paused };
      this.changed();
    });
    socket.on("voice_transcription_result", (data) => {
      this.voice = { ...this.voice, state: "confirm", transcription: data.transcription, confidence: data.confidence, requiresConfirmation: data.requires_confirmation, source: data.source };
      this.changed();
    });
    socket.on("voice_cancelled", () => {
      this.voice = { state: "idle" };
      this.changed();
    });
    this.flushTimer = setInterval(() => this.lesson.flush() && this.changed(), 500);
  }

  #continueAfterReconnect() {
    const lesson = this.lesson.current;
    const pausedByStudent = this.storage?.getItem(PAUSED_KEY) === lesson?.id;
    if (lesson?.status === "paused" && !pausedByStudent && !this.lesson.offer && !this.lesson.failure && this.voice.state === "idle") {
      this.socket.emit("resume_explanation", {});
    }
  }

  #failed(data) {
    this.waiting = null;
    this.notice = { code: data?.code, text: friendlyError(data), similar: data?.details?.similar ?? [], reason: data?.details?.reason };
    if (this.voice.state === "transcribing") {
      // A refused recording starts over; a provider failure keeps it to try again.
      this.voice = { ...this.voice, state: data?.code === "AI_UNAVAILABLE" ? "failed" : "recording" };
    }
    // A confirmed transcription that was refused (a limit, no credits) can be confirmed again.
    if (this.voice.state === "asking") this.voice = { ...this.voice, state: "confirm" };
  }

  changed() {
    this.onChange(this.snapshot());
  }

  // A plain copy of what the page shows (a new object every time, so views re-render).
  snapshot() {
    const copy = (lesson) =>
      lesson && { ...lesson, steps: lesson.steps.map((step) => ({ ...step })), commands: lesson.commands.slice() };
    return {
      status: this.status,
      user: this.user,
      waiting: this.waiting,
      notice: this.notice,
      voice: { ...this.voice },
      lesson: copy(this.lesson.current),
      parent: copy(this.lesson.parent),
      offer: this.lesson.offer,
      feedback: this.lesson.feedback,
      failure: this.lesson.failure,
      feedbackSent: this.feedbackSent,
      stepFeedback: Object.fromEntries(this.stepFeedback),
    };
  }

  #send(name, payload = {}) {
    this.notice = null;
    this.socket?.emit(name, payload);
    this.changed();
  }

  ask(question) {
    this.waiting = null;
    this.#send("ask_question", { question });
  }

  interrupt(question) {
    this.#send("interrupt", { question });
  }

  pause() {
    const lesson = this.lesson.current;
    const step = lesson?.steps.find((s) => s.number === lesson.stepNumber);
    if (lesson) this.storage?.setItem(PAUSED_KEY, lesson.id);
    this.#send("pause_explanation", lesson ? { current_step: lesson.stepNumber, position_in_step: step?.text.length ?? 0 } : {});
  }

  resume() {
    this.storage?.removeItem(PAUSED_KEY);
    this.#send("resume_explanation");
  }

  stop() {
    this.#send("stop_explanation");
  }

  submitFeedback({ rating, understood, seenInExam }) {
    const payload = {};
    if (rating) payload.rating = rating;
    if (understood !== undefined) payload.understood = understood;
    if (seenInExam !== undefined) payload.seen_in_exam = seenInExam;
    this.#send("submit_feedback", payload);
  }

  markStep(stepNumber, understood) {
    this.#send("step_feedback", { step_number: stepNumber, understood });
  }

  reauthenticate(token) {
    if (token && this.socket?.connected) this.socket.emit("reauthenticate", { token });
  }

  // Voice: the recording opens on the server (pausing the lesson) before the browser listens.
  voiceStart() {
    this.voice = { state: "starting" };
    this.#send("voice_start", { session_id: this.sessionId });
  }

  // One piece of a recording; resolves with the server's acknowledgement.
  voiceChunk(index, audioBase64) {
    return new Promise((resolve) => {
      this.socket.timeout(30_000).emit("voice_chunk", { index, audio_data: audioBase64, recording_id: this.voice.recordingId }, (err, ack) => resolve(err ? null : ack));
    });
  }

  voiceTranscript(transcript, confidence) {
    this.voice = { ...this.voice, state: "transcribing" };
    this.#send("voice_complete", { transcript, confidence, recording_id: this.voice.recordingId });
  }

  voiceAudio(durationMs) {
    this.voice = { ...this.voice, state: "transcribing" };
    const payload = { recording_id: this.voice.recordingId };
    if (durationMs > 0) payload.duration = Math.round(durationMs);
    this.#send("voice_complete", payload);
  }

  voiceConfirm(transcription) {
    this.voice = { ...this.voice, state: "asking", transcription };
    this.waiting = null;
    this.#send("voice_confirm", { transcription });
  }

  voiceCancel() {
    this.voice = { state: "idle" };
    this.#send("voice_cancel");
  }

  close() {
    this.ended = true;
    clearInterval(this.flushTimer);
    this.socket?.close();
  }
}
