"""`flask --app app ask "QUESTION"`: a terminal student. It signs in as a local dev user, connects
to the running server over Socket.IO like the browser does, and shows the lesson as it streams:
typewriter text, drawings listed, `p` to pause, `r` to resume, `q` to quit."""

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
        }
        handler = handlers.get(event)
        if handler:
            handler()
        if event in END_EVENTS:
            self.done.set()

    def _error(self, data: dict) -> None:
        self._write(f"\n[{data.get('code')}] {data.get('message')}\n")
        if data.get("code") not in {"INVALID_INPUT"}:
            self.exit_code = 1
            self.done.set()

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

    def run(self, question: str, stdin: TextIO | None = None, timeout: float = 600) -> int:
        try:
            self.client.connect(self.url, auth={"token": self.token}, wait_timeout=10)
        except Exception as exc:  # noqa: BLE001 - reported to the user, not a traceback
            if not self.done.is_set():
                self._write(f"No se pudo conectar a {self.url}: {exc}\n")
            return 1
        if stdin is not None and stdin.isatty():
            self._write("(p + Enter: pausa · r + Enter: continuar · q + Enter: salir)\n")
            threading.Thread(target=self._keys, args=(stdin,), daemon=True).start()
        self.client.emit("ask_question", {"question": question})
        finished = self.done.wait(timeout)
        self.client.disconnect()
        if not finished:
            self._write("\nLa explicación no terminó a tiempo.\n")
            return 1
        return self.exit_code
