"""`flask --app app ask "QUESTION"`: a terminal student. It signs in as a local dev user, connects
to the running server over Socket.IO like the browser does, and shows the lesson as it streams:
typewriter text, drawings listed, `p` to pause, `r` to resume, `q` to quit. With `--audio FILE`
the question is a recording, sent as a browser without speech recognition sends it, and the
transcription is confirmed before it is asked."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

END_EVENTS = {"explanation_complete", "explanation_stopped"}


class TerminalLesson:
    def __init__(self, url: str, token: str, out: TextIO = sys.stdout):
        import socketio  # the client side of python-socketio (requests, websocket-client)

        self.url = url
        self.token = token
        self.out = out
        self.done = threading.Event()
        self.exit_code = 0
        self.voice: dict[str, Any] = {}  # voice_recording_started, voice_transcription_result
        self.voice_step = threading.Event()
        self.in_voice = False
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._on_event)
        self.client.on("connect_error", self._on_connect_error)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _on_connect_error(self, data: Any = None) -> None:
        message = (data or {}).get("message") if isinstance(data, dict) else data
        self._write(f"\nNo se pudo conectar: {message}\n")
        self.exit_code = 1
        self.done.set()

    def _on_event(self, event: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        handlers: dict[str, Callable[[], None]] = {
            "waiting_phrase": lambda: self._write(f"\n… {data.get('phrase')}\n"),
            "explanation_start": lambda: self._write(
                f"\n== {data.get('total_steps')} pasos, "
                f"unos {data.get('estimated_duration')} s ==\n"
            ),
            "step_start": lambda: self._write(
                f"\n\n[{data.get('step_number')}] {data.get('title')}\n"
            ),
            "content_chunk": lambda: self._write(str(data.get("chunk", ""))),
            "canvas_command": lambda: self._write(self._describe(data.get("command") or {})),
            "explanation_paused": lambda: self._write("\n[en pausa: r para continuar]\n"),
            "explanation_resumed": lambda: self._write("\n[continuamos]\n"),
            "explanation_complete": lambda: self._write("\n\n== fin de la explicación ==\n"),
            "explanation_stopped": lambda: self._write("\n\n== explicación detenida ==\n"),
            "error": lambda: self._error(data),
            "voice_recording_started": lambda: self._voice_step("started", data),
            "voice_transcription_result": lambda: self._voice_step("heard", data),
        }
        handler = handlers.get(event)
        if handler:
            handler()
        if event in END_EVENTS:
            self.done.set()

    def _voice_step(self, name: str, data: dict) -> None:
        self.voice[name] = data
        self.voice_step.set()

    def _error(self, data: dict) -> None:
        self._write(f"\n[{data.get('code')}] {data.get('message')}\n")
        if self.in_voice or data.get("code") not in {"INVALID_INPUT"}:
            self.exit_code = 1
            self.done.set()
            self.voice_step.set()

    @staticmethod
    def _describe(command: dict) -> str:
        kind = command.get("type", "?")
        detail = ", ".join(f"{k}={v}" for k, v in command.items() if k not in {"type", "at"})
        return f" ⟨dibujo {kind}: {detail}⟩ "

    def _keys(self, stdin: TextIO) -> None:
        for line in iter(stdin.readline, ""):
            key = line.strip().lower()[:1]
            if key == "p":
                self.client.emit("pause_explanation", {})
            elif key == "r":
                self.client.emit("resume_explanation", {})
            elif key == "q":
                self.client.emit("stop_explanation", {})
                self.done.set()
                return

    def run(
        self,
        question: str | None,
        stdin: TextIO | None = None,
        timeout: float = 600,
        *,
        audio: bytes | None = None,
    ) -> int:
        try:
            self.client.connect(self.url, auth={"token": self.token}, wait_timeout=10)
        except Exception as exc:  # noqa: BLE001 - reported to the user, not a traceback
            if not self.done.is_set():
                self._write(f"No se pudo conectar a {self.url}: {exc}\n")
            return 1
        interactive = stdin is not None and stdin.isatty()
        if audio is not None:
            question = self._spoken(audio, stdin if interactive else None)
            if question is None:
                self.client.disconnect()
                return self.exit_code
        if interactive:
            self._write("(p + Enter: pausa · r + Enter: continuar · q + Enter: salir)\n")
            threading.Thread(target=self._keys, args=(stdin,), daemon=True).start()
        if audio is not None:
            self.client.emit("voice_confirm", {"transcription": question})
        else:
            self.client.emit("ask_question", {"question": question})
        finished = self.done.wait(timeout)
        self.client.disconnect()
        if not finished:
            self._write("\nLa explicación no terminó a tiempo.\n")
            return 1
        return self.exit_code

    def _next_voice_step(self, name: str, timeout: float = 60) -> dict | None:
        while name not in self.voice and not self.done.is_set():
            if not self.voice_step.wait(timeout):
                self._write("\nEl servidor no respondió a tiempo.\n")
                self.exit_code = 1
                return None
            self.voice_step.clear()
        return self.voice.get(name)

    def _spoken(self, audio: bytes, stdin: TextIO | None) -> str | None:
        """Record (send the file in pieces), have it transcribed, confirm: the question."""
        import base64

        self.in_voice = True
        self.client.emit("voice_start", {})
        started = self._next_voice_step("started")
        if started is None:
            return None
        size = int(started["max_chunk_bytes"])
        for index, at in enumerate(range(0, len(audio), size)):
            piece = base64.b64encode(audio[at : at + size]).decode()
            self.client.emit(
                "voice_chunk",
                {"index": index, "audio_data": piece, "recording_id": started["recording_id"]},
            )
        self._write("… transcribiendo tu pregunta\n")
        self.client.emit("voice_complete", {"recording_id": started["recording_id"]})
        heard = self._next_voice_step("heard")
        if heard is None:
            return None
        text = str(heard["transcription"])
        confidence = heard.get("confidence")
        sure = "" if confidence is None else f" (confianza {confidence:.0%})"
        self._write(f"Te escuché: «{text}»{sure}\n")
        if heard.get("requires_confirmation") and stdin is not None:
            self._write("Enter para preguntarlo, escribe la corrección, o n para cancelar: ")
            answer = stdin.readline().strip()
            if answer.lower() == "n":
                self.client.emit("voice_cancel", {})
                self._write("Pregunta cancelada.\n")
                return None
            text = answer or text
        self.in_voice = False
        return text
