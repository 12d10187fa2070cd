// The browser's side of a voice question. The Web Speech API (es-ES) transcribes in the
// browser; where it is missing, MediaRecorder records WebM or Ogg Opus, sent to the server in
// pieces as it records (a timeslice of a second), and the server transcribes it.

export function speechRecognition() {
  return globalThis.SpeechRecognition ?? globalThis.webkitSpeechRecognition ?? null;
}

// The recording formats the server reads (app/utils/audio.py): Opus in WebM or Ogg.
const FORMATS = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"];

export function recorderFormat() {
  if (!globalThis.MediaRecorder || !navigator.mediaDevices?.getUserMedia) return null;
  return FORMATS.find((type) => MediaRecorder.isTypeSupported(type)) ?? null;
}

// Listens once; resolves with {transcript, confidence}, or rejects with a Spanish message.
export function listenOnce({ lang = "es-ES", maxMs = 60_000 } = {}) {
  const Recognition = speechRecognition();
  return new Promise((resolve, reject) => {
    const recognition = new Recognition();
    recognition.lang = lang;
    recognition.interimResults = false;
    recognition.maxAlternatives = 1;
    recognition.continuous = false;
    let settled = false;
    const limit = setTimeout(() => recognition.stop(), maxMs);
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(limit);
      fn(value);
    };
    recognition.onresult = (event) => {
      const best = event.results[0]?.[0];
      if (best?.transcript?.trim()) finish(resolve, { transcript: best.transcript.trim(), confidence: best.confidence || null });
    };
    recognition.onerror = (event) => {
      const error = new Error(RECOGNITION_ERRORS[event.error] ?? "No pudimos escucharte. Inténtalo de nuevo o escribe tu pregunta.");
      // The browser's recognizer is unreachable or not allowed here: recording still works.
      error.fallback = event.error === "network" || event.error === "service-not-allowed";
      finish(reject, error);
    };
    recognition.onend = () => finish(reject, new Error("No te escuchamos. Habla cerca del micrófono e inténtalo de nuevo."));
    recognition.start();
    listenOnce.stop = () => recognition.stop();
  });
}

const RECOGNITION_ERRORS = {
  "not-allowed": "Necesitamos permiso para usar el micrófono.",
  "service-not-allowed": "Tu navegador no permite el dictado aquí. Escribe tu pregunta.",
  "no-speech": "No te escuchamos. Habla cerca del micrófono e inténtalo de nuevo.",
  "audio-capture": "No encontramos un micrófono.",
  network: "El dictado de tu navegador necesita conexión. Escribe tu pregunta.",
};

async function toBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// Records until `stop()` or `maxMs`, sending each piece with `sendChunk(index, base64)` (in
// order, each acknowledged before the next). Resolves with the duration in ms once every piece
// is sent; a piece the server does not take ends the recording at once (rejects).
export async function recordAudio({ sendChunk, maxMs = 60_000, maxChunkBytes = 60_000 }) {
  const mimeType = recorderFormat();
  if (!mimeType) throw new Error("Tu navegador no puede grabar audio aquí. Escribe tu pregunta.");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
  } catch {
    throw new Error("Necesitamos permiso para usar el micrófono.");
  }
  let limit = null;
  try {
    const recorder = new MediaRecorder(stream, { mimeType, audioBitsPerSecond: 32_000 });
    const pieceBytes = Math.max(1_000, Math.floor(maxChunkBytes * 0.7));
    const stopRecorder = () => recorder.state !== "inactive" && recorder.stop();
    let index = 0;
    let sending = Promise.resolve(true);
    const started = performance.now();
    recorder.ondataavailable = (event) => {
      if (!event.data.size) return;
      const blob = event.data;
      sending = sending.then(async (ok) => {
        for (let at = 0; ok && at < blob.size; at += pieceBytes) {
          ok = Boolean(await sendChunk(index, await toBase64(blob.slice(at, at + pieceBytes))));
          index += 1;
        }
        if (!ok) stopRecorder(); // no use recording what cannot be sent
        return ok;
      });
    };
    const done = new Promise((resolve) => (recorder.onstop = resolve));
    recorder.start(1000);
    limit = setTimeout(stopRecorder, maxMs - 500);
    recordAudio.stop = stopRecorder;
    await done;
    const durationMs = performance.now() - started;
    if (!(await sending)) throw new Error("Se perdió parte de la grabación. Graba de nuevo.");
    return durationMs;
  } finally {
    clearTimeout(limit);
    recordAudio.stop = null;
    stream.getTracks().forEach((track) => track.stop()); // the microphone is released, always
  }
}
