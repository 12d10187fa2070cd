"""Socket.IO messages over SOCKET_MAX_MESSAGE_BYTES get `error {code: INVALID_INPUT}` and the
connection stays, instead of Engine.IO's silent close.

Engine.IO (4.15) reads a whole websocket message before comparing its size with
`max_http_buffer_size`, then drops the connection without a word; an oversized long-polling POST
gets a 400 and the session is closed. Here the websocket message is refused from its frame
headers (its payload is read in pieces and discarded, so an oversized message never sits in
memory), the long-polling body is discarded likewise, and the client is told why.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from app.errors import InvalidInput
from app.metrics import ERRORS

log = logging.getLogger(__name__)

DISCARD_PIECE_BYTES = 64 * 1024
# A long-polling body larger than this is not read at all: the connection is dropped instead.
MAX_DISCARDED_BODY_BYTES = 16 * 1024 * 1024


class MessageTooLarge(Exception):
    pass


def too_large_error(limit: int) -> InvalidInput:
    return InvalidInput(
        "El mensaje es demasiado grande. Envía el audio en partes (voice_chunk) o acorta el texto.",
        details={"reason": "message_too_large", "max_message_bytes": limit},
    )


def refuse_oversized(server: Any, eio_sid: str, limit: int) -> None:
    """Tell the client of Engine.IO session `eio_sid` that its last message was too large: an
    `error` event when it is connected to the namespace, else the refusal of its connect."""
    engine_socket = server.eio.sockets.get(eio_sid)
    if engine_socket is None or engine_socket.closed:
        return
    payload = too_large_error(limit).to_payload()
    ERRORS.labels(payload["code"], "socket").inc()
    log.info("socket message over %d bytes refused", limit)
    if server.manager.sid_from_eio_sid(eio_sid, "/") is not None:
        message = sio_packet.Packet(sio_packet.EVENT, data=["error", payload], namespace="/")
    else:  # the message was the namespace's CONNECT: refuse it as connect refusals look
        refusal = {"message": payload["message"], "data": payload}
        message = sio_packet.Packet(sio_packet.CONNECT_ERROR, data=refusal, namespace="/")
    engine_socket.send(eio_packet.Packet(eio_packet.MESSAGE, data=message.encode()))


def _read_exactly(ws: Any, length: int) -> bytes:
    from geventwebsocket.exceptions import WebSocketError

    payload = ws.raw_read(length) if length else b""
    if len(payload) != length:
        raise WebSocketError("Unexpected EOF reading frame payload")
    return payload


def _discard(ws: Any, length: int) -> None:
    from geventwebsocket.exceptions import WebSocketError

    while length > 0:
        piece = ws.raw_read(min(length, DISCARD_PIECE_BYTES))
        if not piece:
            raise WebSocketError("Unexpected EOF reading frame payload")
        length -= len(piece)


def _read_message(ws: Any, limit: int) -> str | bytes | None:
    """gevent-websocket's `WebSocket.read_message`, with the size checked from each frame's
    header before its payload is read."""
    from geventwebsocket.exceptions import ProtocolError
    from geventwebsocket.websocket import Header, WebSocket

    opcode = None
    message = bytearray()
    oversized = False
    while True:
        header = Header.decode_header(ws.stream)
        if header.flags:
            raise ProtocolError
        if header.opcode in (WebSocket.OPCODE_PING, WebSocket.OPCODE_PONG, WebSocket.OPCODE_CLOSE):
            payload = _read_exactly(ws, header.length)  # control frames are at most 125 bytes
            if header.mask:
                payload = header.unmask_payload(payload)
            if header.opcode == WebSocket.OPCODE_CLOSE:
                ws.handle_close(header, payload)
                return None
            if header.opcode == WebSocket.OPCODE_PING:
                ws.handle_ping(header, payload)
            continue
        if header.opcode in (WebSocket.OPCODE_TEXT, WebSocket.OPCODE_BINARY):
            if opcode:
                raise ProtocolError(
                    f"The opcode in non-fin frame is expected to be zero, got {header.opcode!r}"
                )
            opcode = header.opcode
        elif header.opcode != WebSocket.OPCODE_CONTINUATION or not opcode:
            raise ProtocolError(f"Unexpected opcode={header.opcode!r}")
        if oversized or len(message) + header.length > limit:
            oversized = True
            message = bytearray()
            _discard(ws, header.length)
        else:
            payload = _read_exactly(ws, header.length)
            message += header.unmask_payload(payload) if header.mask else payload
        if header.fin:
            break
    if oversized:
        raise MessageTooLarge
    return message.decode("utf-8") if opcode == WebSocket.OPCODE_TEXT else bytes(message)


def receive_within(ws: Any, limit: int) -> str | bytes | None:
    """gevent-websocket's `WebSocket.receive` (None: the connection is closed), raising
    MessageTooLarge for a message over `limit` bytes, which is consumed and dropped."""

    from geventwebsocket.exceptions import ProtocolError

    if ws.closed:
        return None
    try:
        return _read_message(ws, limit)
    except UnicodeError:
        ws.close(1007)
    except ProtocolError:
        ws.close(1002)
    except OSError:
        ws.close()
    return None


def limited_websocket_class(base: type, refuse: Callable[[str], None]) -> type:
    """Engine.IO's gevent-websocket adapter, refusing oversized messages with `refuse(eio_sid)`
    and going on with the next message."""

    class LimitedWebSocket(base):
        def __init__(self, handler: Any, server: Any):
            super().__init__(handler, server)
            self._limit = int(server.max_http_buffer_size)
            self._eio_sid = getattr(getattr(handler, "__self__", None), "sid", None)

        def wait(self) -> str | bytes | None:
            while True:
                try:
                    return receive_within(self._sock, self._limit)
                except MessageTooLarge:
                    if self._eio_sid is not None:
                        refuse(self._eio_sid)

    return LimitedWebSocket


class OversizedPollingGuard:
    """WSGI middleware in front of Engine.IO: a long-polling POST over the limit is read and
    discarded, Engine.IO sees an empty one (and answers `ok`), and the client is refused with
    an `error` on its next poll."""

    def __init__(self, app: Any, *, limit: int, refuse: Callable[[str], None], path: str):
        self.app = app
        self.limit = limit
        self.refuse = refuse
        self.path = path

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") != "POST" or not environ.get("PATH_INFO", "").startswith(
            self.path
        ):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self.app(environ, start_response)
        if length <= self.limit or length > MAX_DISCARDED_BODY_BYTES:
            return self.app(environ, start_response)  # (Engine.IO refuses the latter itself)
        body = environ["wsgi.input"]
        left = length
        while left > 0:
            piece = body.read(min(left, DISCARD_PIECE_BYTES))
            if not piece:
                break
            left -= len(piece)
        response = self.app(
            {**environ, "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO(b"")}, start_response
        )
        sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid", [None])[0]
        if sid:
            self.refuse(sid)
        return response


def install_message_limit(app: Any, socketio: Any, limit: int) -> None:
    """Answer oversized messages, on the gevent-websocket transport (the production server)
    and on long-polling. Other async modes keep Engine.IO's own behaviour (a closed
    connection; the client reconnects and resumes its session)."""
    server = socketio.server
    eio = server.eio

    def refuse(eio_sid: str) -> None:
        refuse_oversized(server, eio_sid, limit)

    if eio.async_mode == "gevent":
        from engineio.async_drivers import gevent as gevent_driver

        if getattr(gevent_driver, "SimpleWebSocketWSGI", object) is None:  # gevent-websocket
            eio._async = {
                **eio._async,
                "websocket": limited_websocket_class(eio._async["websocket"], refuse),
            }
    app.wsgi_app = OversizedPollingGuard(
        app.wsgi_app, limit=limit, refuse=refuse, path="/socket.io"
    )
