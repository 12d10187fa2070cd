"""Socket.IO handlers (thin controllers). Every failure reaches the client as `error`."""

from __future__ import annotations

from flask_socketio import SocketIO, emit

from app.controllers.errors import error_payload
from app.metrics import ERRORS


def register_socket_handlers(socketio: SocketIO) -> None:
    from app.socket_events.connection import register_connection_handlers
    from app.socket_events.playback import register_playback_handlers
    from app.socket_events.questions import register_question_handlers
    from app.socket_events.voice import register_voice_handlers

    register_connection_handlers(socketio)
    register_question_handlers(socketio)
    register_playback_handlers(socketio)
    register_voice_handlers(socketio)

    @socketio.on_error_default
    def _on_error(exc: BaseException) -> None:
        payload = error_payload(exc)
        ERRORS.labels(payload.get("code", "INTERNAL_ERROR"), "socket").inc()
        emit("error", payload)
