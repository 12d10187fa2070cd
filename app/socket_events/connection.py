"""connect / disconnect / reauthenticate (thin: parse, call the connection service, emit)."""

from __future__ import annotations

import ipaddress
import logging
import time
from dataclasses import dataclass, field

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.auth.verifier import Principal
from app.controllers.errors import error_payload
from app.controllers.socket_gateway import session_room
from app.controllers.validation import parse_model
from app.errors import AppError, InvalidInput, Unauthorized
from app.services.connection_service import HEARTBEAT_SECONDS
from app.socket_events import handles
from app.utils.logs import bind

log = logging.getLogger(__name__)


class ConnectAuth(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=16_384)
    session_id: str | None = Field(default=None, description="A previous session to resume")
    last_seq: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="The last lesson event seen: the missed ones are replayed",
    )

    @field_validator("session_id", mode="before")
    @classmethod
    def _ignore_unusable(cls, value: object) -> object:
        # A session id that cannot be ours (wrong type, absurd length) just starts a new one.
        return value if isinstance(value, str) and len(value) <= 64 else None

    @field_validator("last_seq", mode="before")
    @classmethod
    def _ignore_bad_seq(cls, value: object) -> object:
        usable = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53
        return value if usable else None


class ReauthenticateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=16_384)


@dataclass
class LocalSocket:
    client_ip: str
    principal: Principal
    session_id: str
    expires_at: int
    last_phrase: str | None = None

    @property
    def user_id(self) -> str:
        return self.principal.user_id


@dataclass
class LocalSockets:
    """The sockets this process holds (they live and die with it), and their heartbeat."""

    by_sid: dict[str, LocalSocket] = field(default_factory=dict)
    heartbeat_started: bool = False
    # Set when the process is shutting down: disconnects then leave sessions resumable and
    # connection slots to lapse, instead of racing the closing of the stores.
    stopping: bool = False

    def by_ip(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for sid, socket in list(self.by_sid.items()):
            grouped.setdefault(socket.client_ip, []).append(sid)
        return grouped


def current_sid() -> str:
    """The Socket.IO id of the client whose event is being handled."""
    return str(request.sid)  # type: ignore[attr-defined]  # set by Flask-SocketIO


def client_ip(environ: dict, trusted: list[str]) -> str:
    """The client's address: X-Forwarded-For is believed only from configured proxies, read
    from the right, skipping proxies."""
    remote = environ.get("REMOTE_ADDR") or "unknown"
    networks = [ipaddress.ip_network(p, strict=False) for p in trusted]

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    if not networks or not is_trusted(remote):
        return remote
    hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else remote


def register_connection_handlers(socketio: SocketIO) -> None:
    def local_sockets() -> LocalSockets:
        return current_app.extensions["pizarra_sockets"]

    def heartbeat(app) -> None:
        sockets = app.extensions["pizarra_sockets"]
        while not sockets.stopping:
            socketio.sleep(HEARTBEAT_SECONDS)
            if sockets.stopping:
                return
            with app.app_context():
                try:
                    app.extensions["pizarra"].connections.heartbeat(
                        app.extensions["pizarra_sockets"].by_ip()
                    )
                except AppError as exc:
                    log.warning("connection heartbeat failed: %s", exc)

    def refuse_as_event(name: str) -> None:
        # python-socketio dispatches an *event* named `connect` or `disconnect` sent by a
        # connected client to these handlers too: it would sign the socket in again (another
        # student's token, another connection slot) or drop its bookkeeping while it stays
        # open. A real connect or disconnect runs while the client is not counted as connected.
        if socketio.server.manager.is_connected(current_sid(), "/"):
            raise InvalidInput(f"«{name}» es un evento reservado: no se puede enviar.")

    @socketio.on("connect")
    def on_connect(auth=None):
        refuse_as_event("connect")
        container = current_app.extensions["pizarra"]
        sockets = local_sockets()
        try:
            payload = parse_model(ConnectAuth, auth if isinstance(auth, dict) else {})
        except AppError:
            payload = None
        try:
            if payload is None:
                raise Unauthorized()
            ip = client_ip(request.environ, container.settings.trusted_proxies)
            connection = container.connections.connect(
                token=payload.token,
                sid=current_sid(),
                client_ip=ip,
                previous_session_id=payload.session_id,
            )
        except AppError as exc:
            # The client's connect_error gets {message, data: {code, message, retry_after?}}.
            refusal = error_payload(exc)
            raise ConnectionRefusedError(refusal["message"], refusal) from None
        principal = connection.principal
        sockets.by_sid[current_sid()] = LocalSocket(
            client_ip=ip,
            principal=principal,
            session_id=connection.session_id,
            expires_at=principal.expires_at,
        )
        if not sockets.heartbeat_started:
            sockets.heartbeat_started = True
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            socketio.start_background_task(heartbeat, app)
        join_room(f"user:{principal.user_id}")
        emit(
            "connection_established",
            {
                "session_id": connection.session_id,
                "resumed": connection.resumed,
                "user_info": {
                    "user_id": principal.user_id,
                    "email": principal.email,
                    "full_name": principal.full_name,
                },
                "token_expires_at": principal.expires_at,
            },
        )
        # Send what was missed, join the lesson, then send what was recorded meanwhile: an
        # event recorded around the join arrives twice rather than never (the client drops any
        # seq it has already seen).
        seen = payload.last_seq if connection.resumed else None
        if seen is not None:
            for event, data in container.streaming.missed_events(connection.session_id, seen):
                emit(event, data)
                seen = max(seen, data["seq"])
        join_room(session_room(connection.session_id))
        if seen is not None:
            for event, data in container.streaming.missed_events(connection.session_id, seen):
                emit(event, data)
        if connection.resumed:
            container.streaming.adopt(connection.session_id)

    @socketio.on("disconnect")
    def on_disconnect(reason=None, *_args):
        refuse_as_event("disconnect")
        sockets = local_sockets()
        socket = sockets.by_sid.pop(current_sid(), None)
        if socket is None or sockets.stopping:
            return
        container = current_app.extensions["pizarra"]
        try:
            was_current = container.connections.disconnect(
                sid=current_sid(), client_ip=socket.client_ip, session_id=socket.session_id
            )
        except AppError as exc:
            log.warning("disconnect bookkeeping failed: %s", exc)
            was_current = True
        if was_current:  # a stale socket of a resumed session must not pause its new lesson
            container.streaming.suspend(socket.session_id)

    @handles(socketio, "reauthenticate")
    def on_reauthenticate(data=None):
        socket = local_sockets().by_sid.get(current_sid())
        if socket is None:
            raise Unauthorized()
        body = parse_model(ReauthenticateIn, data)
        principal = current_app.extensions["pizarra"].connections.reauthenticate(
            token=body.token, user_id=socket.user_id
        )
        socket.expires_at = principal.expires_at
        socket.principal = principal
        emit("reauthenticated", {"token_expires_at": principal.expires_at})


def current_socket(*, fresh_token: bool = False) -> LocalSocket:
    """The connected student of this event. With `fresh_token`, for events that spend credits:
    the token must not have expired since connect (the client sends `reauthenticate`)."""
    socket = current_app.extensions["pizarra_sockets"].by_sid.get(current_sid())
    if socket is None:
        raise Unauthorized()
    bind(session_id=socket.session_id, user_id=socket.principal.user_id)
    if fresh_token and socket.expires_at <= time.time():
        raise Unauthorized("Tu sesión expiró. Envía un token nuevo con reauthenticate.")
    return socket
