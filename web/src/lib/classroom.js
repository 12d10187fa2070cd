// The student's connection to the backend over Socket.IO (docs/socket-events.md): asking,
// the lesson's controls, voice questions, feedback; and reconnecting without losing the place.
//
// The session id is kept per tab (sessionStorage): a reload or a dropped network reconnects
// with it and `last_seq`, and the server replays what was missed, so the lesson continues at
// the character where it was. State changes are reported through `onChange` as snapshots.

import { io } from "socket.io-client";
import { LessonAssembler, isLessonEvent } from "./lesson.js";
import { friendlyError } from "./errors.js";

const SESSION_KEY = "pizarra.session";
const PAUSED_KEY = "pizarra.paused-by-student";
const QUESTION_KEY = "pizarra.last-question";
const ANSWER_TIMEOUT_MS = 20_000; // a question with no answer by then can be sent again
const START_TIMEOUT_MS = 15_000; // voice_start with no answer by then is given up
// Codes after which what the header shows (credits, today's questions) may have changed.
const ACCOUNT_CODES = new Set(["INSUFFICIENT_CREDITS", "DAILY_LIMIT_REACHED", "AI_UNAVAILABLE"]);

export class Classroom {
  // `openSocket` is socket.io-client's `io` (tests give a socket of their own).
  constructor({ getToken, refreshToken = async () => null, onChange = () => {}, onSignedOut = () => {}, storage = globalThis.sessionStorage, url = undefined, openSocket = io }) {
    this.openSocket = openSocket;
    this.getToken = getToken;
    this.refreshToken = refreshToken;
    this.onChange = onChange;
    this.onSignedOut = onSignedOut;
    this.storage = storage;
    this.url = url;
    this.lesson = new LessonAssembler();
    this.status = "connecting"; // connecting | connected | reconnecting | replaced | ended
    this.user = null;
    this.waiting = null; // {phrase, category, estimated_time}
    this.notice = null; // {code, text, similar?, reason?}: the last refusal, until the next action
    this.voice = { state: "idle" }; // idle | starting | recording | transcribing | confirm | asking | refused | failed
    this.feedbackSent = null; // feedback_received, with the explanationId it was about
    this.stepFeedback = new Map(); // step_number -> understood, for the lesson on screen
    this.pending = null; // {name, payload, question}: a question sent and not yet answered
    this.accepted = 0; // counts questions the server took (the page clears its box)
    this.accountChanged = 0; // counts events after which credits may have changed
    this.sessionId = storage?.getItem(SESSION_KEY) ?? null;
    this.socket = null;
    this.ended = false;
    this.timers = new Set();
    this.afterStop = null; // a question to ask once the lesson on screen has stopped
    this.voiceWaiter = null; // {resolve, reject} of voiceStart()
    this.expired = null; // {lesson, question}: the lesson of a session that expired
  }

  connect() {
    this.socket = this.openSocket(this.url, {
      path: "/socket.io",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      // Read at every (re)connection: the latest token, the session and the last event seen.
      auth: (send) => send({ token: this.getToken(), session_id: this.sessionId ?? undefined, last_seq: this.sessionId ? this.lesson.lastSeq : undefined }),
    });
    const socket = this.socket;
    let refreshedForConnect = false;

    socket.on("connection_established", (data) => {
      refreshedForConnect = false;
      if (!data.resumed || data.session_id !== this.sessionId) {
        // The session expired while the student was away: what they were reading stays on
        // screen, with a way to ask for it again.
        const left = this.lesson.current;
        if (left && left.status !== "complete") this.expired = { lesson: left, question: this.storage?.getItem(QUESTION_KEY) ?? null };
        this.lesson.reset();
      }
      this.sessionId = data.session_id;
      this.storage?.setItem(SESSION_KEY, data.session_id);
      this.user = data.user_info;
      this.status = "connected";
      if (this.notice?.code === "NETWORK" || this.notice?.code === "TOO_MANY_CONNECTIONS") this.notice = null;
      this.changed();
      // The server pauses a lesson whose student went away. Once what was missed has been
      // replayed, a lesson the student had not paused goes on by itself.
      if (data.resumed) this.#later(() => this.#continueAfterReconnect(), 400);
    });
    socket.on("connect_error", async (err) => {
      const data = err?.data;
      if (data?.code === "UNAUTHORIZED") {
        // An expired token (a phone waking up): one refresh, then the student signs in again.
        const token = refreshedForConnect ? null : await this.refreshToken().catch(() => null);
        refreshedForConnect = true;
        if (token) return socket.connect();
        this.status = "ended";
        this.changed();
        this.onSignedOut(friendlyError(data));
        return;
      }
      this.status = "reconnecting";
      this.notice = { code: data?.code ?? "NETWORK", text: friendlyError(data ?? { code: "NETWORK" }) };
      this.changed();
      if (data?.code) {
        // Refused by the server (too many connections): it does not retry by itself.
        const wait = Math.max(1, Number(data.retry_after) || 5);
        this.#later(() => !this.ended && socket.connect(), wait * 1000);
      }
    });
    socket.on("disconnect", (reason) => {
      if (this.ended) return;
      this.status = "reconnecting";
      this.changed();
      if (reason === "io server disconnect") this.#later(() => !this.ended && socket.connect(), 1000);
    });
    socket.on("session_ended", (data) => {
      this.ended = true;
      this.status = data.reason === "replaced" ? "replaced" : "ended";
      if (data.reason === "logout") {
        this.storage?.removeItem(SESSION_KEY);
        this.onSignedOut("Cerraste sesión.");
      }
      this.changed();
    });
    socket.on("waiting_phrase", (data) => {
      this.waiting = data;
      this.#accepted();
      this.changed();
    });
    socket.onAny((name, data) => {
      if (!isLessonEvent(name)) return;
      if (name === "error" && !Number.isInteger(data?.seq)) {
        this.#refused(data);
        return;
      }
      const changed = this.lesson.receive(name, data);
      if (!changed) return;
      if (name === "explanation_start") {
        this.waiting = null;
        this.expired = null;
        this.#accepted();
        this.accountChanged += 1;
        if (data?.kind !== "interruption") this.stepFeedback = new Map();
      }
      if (name === "explanation_complete" || (name === "error" && ACCOUNT_CODES.has(data?.code))) this.accountChanged += 1;
      if (name === "error") this.waiting = null;
      if (name === "explanation_stopped" && this.afterStop) {
        const question = this.afterStop;
        this.afterStop = null;
        this.ask(question);
      }
      this.changed();
    });
    socket.on("feedback_received", (data) => {
      this.feedbackSent = { ...data, explanationId: this.lesson.feedback?.explanationId ?? null };
      this.accountChanged += 1;
      this.changed();
    });
    socket.on("step_feedback_received", (data) => {
      this.stepFeedback.set(data.step_number, data.understood);
      this.changed();
    });
    socket.on("reauthenticated", () => {
      // The action refused for the expired token goes again, once.
      const retry = this.pending?.retry;
      if (retry) {
        this.pending.retry = null;
        socket.emit(retry.name, retry.payload);
      }
      this.changed();
    });
    socket.on("voice_recording_started", (data) => {
      if (this.voice.state !== "starting") {
        socket.emit("voice_cancel", {}); // nobody is waiting for it any more
        return;
      }
      this.voice = { state: "recording", recordingId: data.recording_id, maxDurationMs: data.max_duration_ms, maxChunkBytes: data.max_chunk_bytes, lessonPaused: data.lesson_paused };
      this.voiceWaiter?.resolve(this.voice);
      this.voiceWaiter = null;
      this.changed();
    });
    socket.on("voice_transcription_result", (data) => {
      if (this.voice.state !== "transcribing") return;
      this.pending = null;
      this.voice = { ...this.voice, state: "confirm", transcription: data.transcription, confidence: data.confidence, requiresConfirmation: data.requires_confirmation, source: data.source };
      // A transcription the model is sure of is asked at once (only this once).
      if (!data.requires_confirmation) this.voiceConfirm(data.transcription);
      else this.changed();
    });
    socket.on("voice_cancelled", () => {
      this.voice = { state: "idle" };
      this.changed();
    });
    const flush = setInterval(() => this.lesson.flush() && this.changed(), 500);
    this.timers.add({ clear: () => clearInterval(flush) });
  }

  #later(fn, ms) {
    const handle = setTimeout(() => {
      this.timers.delete(entry);
      fn();
    }, ms);
    const entry = { clear: () => clearTimeout(handle) };
    this.timers.add(entry);
  }

  #continueAfterReconnect() {
    const lesson = this.lesson.current;
    const pausedByStudent = this.storage?.getItem(PAUSED_KEY) === lesson?.id;
    if (lesson?.status === "paused" && !pausedByStudent && !this.lesson.offer && !this.lesson.failure && this.voice.state === "idle") {
      this.socket.emit("resume_explanation", {});
    }
  }

  #accepted() {
    if (!this.pending) return;
    this.pending = null;
    this.accepted += 1;
    if (this.voice.state === "asking") this.voice = { state: "idle" };
  }

  // An error answering the student's last action (not a lesson's).
  async #refused(data) {
    if (data?.code === "UNAUTHORIZED" && this.pending && !this.pending.refreshed) {
      // The token expired during the lesson: refresh it and send the action again.
      this.pending.refreshed = true;
      const token = await this.refreshToken().catch(() => null);
      if (token) {
        this.pending.retry = { name: this.pending.name, payload: this.pending.payload };
        this.socket.emit("reauthenticate", { token });
        return;
      }
    }
    this.pending = null;
    this.waiting = null;
    if (ACCOUNT_CODES.has(data?.code)) this.accountChanged += 1;
    this.notice = { code: data?.code, text: friendlyError(data), similar: data?.details?.similar ?? [], reason: data?.details?.reason };
    const voice = this.voice.state;
    if (voice === "starting") {
      this.voice = { state: "idle" };
      this.voiceWaiter?.reject(new Error(this.notice.text));
      this.voiceWaiter = null;
    } else if (voice === "transcribing") {
      // The provider failed: the recording is kept to try again. Anything else was refused
      // and the recording starts over, empty, on the server.
      this.voice = { ...this.voice, state: data?.code === "AI_UNAVAILABLE" ? "failed" : "refused", problem: this.notice.text };
    } else if (voice === "asking") {
      // A confirmed transcription that was refused (a limit, no credits) can be asked again.
      this.voice = { ...this.voice, state: "confirm", requiresConfirmation: true };
    }
    this.changed();
  }

  changed() {
    if (!this.closed) this.onChange(this.snapshot());
  }

  // A plain copy of what the page shows (a new object every time, so views re-render).
  snapshot() {
    const copy = (lesson) =>
      lesson && { ...lesson, steps: lesson.steps.map((step) => ({ ...step })), commands: lesson.commands.slice() };
    const failure = this.lesson.failure;
    return {
      status: this.status,
      user: this.user,
      waiting: this.waiting,
      notice: this.notice ?? (failure && { code: failure.code, text: friendlyError(failure), similar: failure.details?.similar ?? [] }),
      voice: { ...this.voice },
      lesson: copy(this.lesson.current),
      parent: copy(this.lesson.parent),
      offer: this.lesson.offer,
      feedback: this.lesson.feedback,
      feedbackSent: this.feedbackSent,
      stepFeedback: Object.fromEntries(this.stepFeedback),
      expired: this.expired && { question: this.expired.question, lesson: copy(this.expired.lesson) },
      pending: this.pending?.question ?? null,
      accepted: this.accepted,
      accountChanged: this.accountChanged,
    };
  }

  #send(name, payload = {}) {
    this.notice = null;
    this.socket?.emit(name, payload);
    this.changed();
  }

  // A question: the box keeps it until the server takes it (or refuses it, or says nothing).
  #question(name, question) {
    this.waiting = null;
    this.pending = { name, payload: { question }, question };
    const sent = this.pending;
    this.#later(() => {
      if (this.pending === sent) {
        this.pending = null;
        this.changed();
      }
    }, ANSWER_TIMEOUT_MS);
    this.#send(name, { question });
  }

  ask(question) {
    this.storage?.setItem(QUESTION_KEY, question);
    this.#question("ask_question", question);
  }

  // A follow-up about the step in view: while a lesson streams, is paused, or offers to go on.
  interrupt(question) {
    this.#question("interrupt", question);
  }

  // Another lesson (from the bank): the one on screen stops first, so it is not a follow-up.
  askAnew(question) {
    const lesson = this.lesson.current;
    if (lesson && (lesson.status === "streaming" || lesson.status === "paused" || this.lesson.offer)) {
      this.afterStop = question;
      this.#later(() => this.afterStop === question && ((this.afterStop = null), this.ask(question)), 3000);
      this.stop();
    } else {
      this.ask(question);
    }
  }

  pause() {
    const lesson = this.lesson.current;
    if (lesson?.status !== "streaming") return;
    const step = lesson.steps.find((s) => s.number === lesson.stepNumber);
    this.storage?.setItem(PAUSED_KEY, lesson.id);
    this.#send("pause_explanation", { current_step: lesson.stepNumber, position_in_step: step?.text.length ?? 0 });
  }

  resume() {
    this.storage?.removeItem(PAUSED_KEY);
    this.#send("resume_explanation");
  }

  stop() {
    this.storage?.removeItem(PAUSED_KEY);
    this.#send("stop_explanation");
  }

  submitFeedback({ rating, understood, seenInExam }) {
    const payload = {};
    if (rating) payload.rating = rating;
    if (understood !== undefined && understood !== null) payload.understood = understood;
    if (seenInExam !== undefined) payload.seen_in_exam = seenInExam;
    this.#send("submit_feedback", payload);
  }

  markStep(stepNumber, understood) {
    this.#send("step_feedback", { step_number: stepNumber, understood });
  }

  reauthenticate(token) {
    if (token && this.socket?.connected) this.socket.emit("reauthenticate", { token });
  }

  // Another tab or device took this session: take it back here.
  takeOver() {
    this.ended = false;
    this.status = "connecting";
    this.changed();
    this.socket.connect();
  }

  // Voice: the recording opens on the server (pausing the lesson) before the browser listens.
  // Resolves once it is open, with {maxDurationMs, maxChunkBytes}; rejects with a message.
  voiceStart() {
    this.voice = { state: "starting" };
    this.#send("voice_start", { session_id: this.sessionId ?? undefined });
    return new Promise((resolve, reject) => {
      this.voiceWaiter = { resolve, reject };
      this.#later(() => {
        if (this.voice.state !== "starting") return;
        this.voiceWaiter = null;
        this.voice = { state: "idle" };
        this.changed();
        reject(new Error("No pudimos abrir la grabación. Inténtalo de nuevo o escribe tu pregunta."));
      }, START_TIMEOUT_MS);
    });
  }

  // Recording again after a refusal: the server already reset the recording.
  voiceRecordAgain() {
    this.notice = null;
    this.voice = { ...this.voice, state: "recording", problem: null };
    this.changed();
  }

  // One piece of a recording; resolves with the server's acknowledgement (null: not taken).
  // A piece whose acknowledgement is lost (a network blip) is sent again: the server keeps a
  // piece sent twice once.
  async voiceChunk(index, audioBase64) {
    const payload = { index, audio_data: audioBase64, recording_id: this.voice.recordingId };
    for (let attempt = 0; attempt < 3 && this.voice.state === "recording"; attempt++) {
      const answer = await new Promise((resolve) => {
        this.socket.timeout(15_000).emit("voice_chunk", payload, (err, reply) => resolve(err ? null : { reply }));
      });
      // Answered: taken (the acknowledgement), or refused (empty; an error event says why).
      if (answer) return answer.reply ?? null;
    }
    return null;
  }

  voiceTranscript(transcript, confidence) {
    this.voice = { ...this.voice, state: "transcribing" };
    this.pending = { name: "voice_complete", payload: { transcript, confidence, recording_id: this.voice.recordingId }, question: null };
    this.#send("voice_complete", this.pending.payload);
  }

  voiceAudio(durationMs) {
    this.voice = { ...this.voice, state: "transcribing" };
    const payload = { recording_id: this.voice.recordingId };
    if (durationMs > 0) payload.duration = Math.round(durationMs);
    this.pending = { name: "voice_complete", payload, question: null };
    this.#send("voice_complete", payload);
  }

  voiceConfirm(transcription) {
    this.voice = { ...this.voice, state: "asking", transcription };
    this.waiting = null;
    this.pending = { name: "voice_confirm", payload: { transcription }, question: null };
    this.#send("voice_confirm", { transcription });
  }

  voiceCancel() {
    this.voice = { state: "idle" };
    this.pending = null;
    this.#send("voice_cancel");
  }

  close() {
    this.ended = true;
    this.closed = true; // (the page has let go of it: it reports nothing more)
    for (const timer of this.timers) timer.clear();
    this.timers.clear();
    this.socket?.close();
  }
}
