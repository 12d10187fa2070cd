"""The Socket.IO side of what services may ask of connected clients (`SocketGateway`) and of
how lessons run (`LessonRuntime`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from socketio.packet import EVENT

from app.extensions import socketio
from app.metrics import count_event

EVENT_PACKET = str(EVENT)  # a Socket.IO EVENT on the default namespace: 2["name",{...}]
_PACKET_PREFIXES: dict[str, str] = {}  # by event name (the lesson events, a handful)

ENDED_MESSAGES = {
    "logout": "Cerraste sesión. Vuelve a iniciar sesión para continuar.",
    "replaced": "Esta sesión se abrió en otra pestaña o dispositivo.",
}


class FlaskSocketGateway:
    def end_connection(self, sid: str, *, reason: str) -> None:
        message = ENDED_MESSAGES.get(reason, "La conexión se cerró.")
        socketio.emit("session_ended", {"reason": reason, "message": message}, to=sid)
        # With a message queue this reaches whichever process holds the connection.
        socketio.server.disconnect(sid)

    def emit_to_session(
        self, session_id: str, event: str, data: str, *, connection_id: str | None
    ) -> None:
        # Every socket of the session joins this room, on whichever process it is connected.
        # When the session's current connection is here (the usual case: the lesson runs where
        # the student asked), deliver directly instead of a round trip through the Redis message
        # queue; once the student has reconnected to another process, go through the queue.
        count_event(event)
        server = socketio.server
        if (
            connection_id is not None
            and server is not None
            and server.manager.is_connected(connection_id, "/")
        ):
            # The Socket.IO event packet written out once, around the payload's JSON as it is:
            # lesson events are most of what the process sends, several thousand a second.
            prefix = _PACKET_PREFIXES.get(event)
            if prefix is None:
                prefix = _PACKET_PREFIXES[event] = f"{EVENT_PACKET}[{json.dumps(event)},"
            packet = f"{prefix}{data}]"
            for _sid, eio_sid in server.manager.get_participants("/", session_room(session_id)):
                server.eio.send(eio_sid, packet)
            return
        socketio.emit(event, json.loads(data), to=session_room(session_id))

    def spawn(self, target: Callable[..., Any], *args: Any) -> Any:
        return socketio.start_background_task(target, *args)

    def sleep(self, seconds: float) -> None:
        socketio.sleep(seconds)

    def event(self) -> Any:
        return socketio.server.eio.create_event()

    def run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run CPU-bound work (checking a step's mathematics) on a native thread, so the
        greenlets streaming other lessons keep their cadence while it runs."""
        server = socketio.server
        if server is not None and server.eio.async_mode == "gevent":
            import gevent  # only under gevent: the hub's pool of native threads

            return gevent.get_hub().threadpool.apply(function, args)
        return function(*args)


def session_room(session_id: str) -> str:
    return f"session:{session_id}"
