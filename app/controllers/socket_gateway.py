"""The Socket.IO side of `SocketGateway`: what services may ask of connected clients."""

from __future__ import annotations

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
