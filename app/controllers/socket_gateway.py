"""The Socket.IO side of what services may ask of connected clients (`SocketGateway`) and of
how lessons run (`LessonRuntime`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.extensions import socketio

ENDED_MESSAGES = {
    "logout": "Cerraste sesión. Vuelve a iniciar sesión para continuar.",
}


class FlaskSocketGateway:
    def end_connection(self, sid: str, *, reason: str) -> None:
        message = ENDED_MESSAGES.get(reason, "La conexión se cerró.")
        socketio.emit("session_ended", {"reason": reason, "message": message}, to=sid)
        # With a message queue this reaches whichever process holds the connection.
        socketio.server.disconnect(sid)

    def emit_to_session(self, session_id: str, event: str, payload: dict[str, Any]) -> None:
        # Every socket of the session joins this room, on whichever process it is connected.
        # When the student is connected here (the usual case: the lesson runs where they asked),
        # deliver directly instead of a round trip through the Redis message queue.
        room = session_room(session_id)
        server = socketio.server
        local = server is not None and any(True for _ in server.manager.get_participants("/", room))
        socketio.emit(event, payload, to=room, ignore_queue=local)

    def spawn(self, target: Callable[..., Any], *args: Any) -> Any:
        return socketio.start_background_task(target, *args)

    def sleep(self, seconds: float) -> None:
        socketio.sleep(seconds)


def session_room(session_id: str) -> str:
    return f"session:{session_id}"
