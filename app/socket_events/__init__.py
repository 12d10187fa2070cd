"""Socket.IO handlers (thin controllers). Every failure reaches the client as `error`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO, emit

from app.controllers.errors import error_payload
from app.errors import InvalidInput
from app.metrics import ERRORS


def handles(socketio: SocketIO, event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `handler(data=None)` for a client event. A client that sends several arguments
    gets INVALID_INPUT (a handler called with them would fail as an internal error)."""

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def receive(*args: Any) -> Any:
            if len(args) > 1:
                raise InvalidInput("Envía los datos del evento en un solo objeto.")
            return handler(*args)

        socketio.on(event)(receive)
        return handler

    return register


def register_socket_handlers(socketio: SocketIO) -> None:
    from app.socket_events.connection import register_connection_handlers
    from app.socket_events.playback import register_playback_handlers
    from app.socket_events.questions import register_question_handlers
    from app.socket_events.voice import register_voice_handlers

    register_connection_handlers(socketio)
    register_question_handlers(socketio)
    register_playback_handlers(socketio)
    register_voice_handlers(socketio)

    @socketio.on("*")
    def _on_unknown(event: str, *_args: Any) -> None:
        # Every event without a handler of its own (python-socketio never sends the reserved
        # `connect` / `disconnect` here): answered, not silently dropped.
        raise InvalidInput("Ese evento no existe.", details={"event": str(event)[:64]})

    @socketio.on_error_default
    def _on_error(exc: BaseException) -> None:
        payload = error_payload(exc)
        ERRORS.labels(payload.get("code", "INTERNAL_ERROR"), "socket").inc()
        emit("error", payload)
