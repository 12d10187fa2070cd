"""Stopping a server process gracefully (SIGTERM), under run.py and under gunicorn alike.

The process stops taking students first (readiness 503, new Socket.IO connections 503), then
every lesson streaming here stops at its next chunk with its position saved and gives up its
lease, then every connection closes as a network cut would: Socket.IO clients reconnect on their
own, behind the load balancer to another process, where their lesson goes on from the character
they saw. Answers the model is still writing get what is left of the grace period to be stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from app.errors import AppError

log = logging.getLogger(__name__)


class DrainGate:
    """WSGI middleware in front of Engine.IO: while the process drains, a new Socket.IO
    connection (a handshake, without `sid`) is refused with 503, which clients treat as a
    network error and retry, reaching another process once the balancer has taken this one out
    (its readiness check says 503 too). Requests of existing connections pass."""

    def __init__(self, wsgi_app: Callable, is_draining: Callable[[], bool], path: str):
        self.wsgi_app = wsgi_app
        self.is_draining = is_draining
        self.path = "/" + path.strip("/") + "/"

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        if (
            self.is_draining()
            and (environ.get("PATH_INFO") or "").startswith(self.path)
            and "sid=" not in (environ.get("QUERY_STRING") or "")
        ):
            start_response(
                "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8"), ("Retry-After", "1")],
            )
            return [b"stopping"]
        return self.wsgi_app(environ, start_response)


def install(app: Flask, socketio_path: str = "socket.io") -> None:
    """Put the drain gate in front of the app's Socket.IO endpoint (after socketio.init_app)."""
    sockets = app.extensions["pizarra_sockets"]
    app.wsgi_app = DrainGate(  # type: ignore[method-assign]
        app.wsgi_app, lambda: sockets.stopping, socketio_path
    )


# How often a server process writes the charges kept while PostgreSQL was unavailable.
FLUSH_INTERVAL_SECONDS = 5.0


def start_background_work(app: Flask) -> None:
    """What a server process does besides answering: write the lessons given while PostgreSQL
    was unavailable, with their charges, once it is back (every process tries; each record is
    written once). Started by run.py and by gunicorn's worker, not by CLI commands."""
    from app.extensions import socketio

    container = app.extensions["pizarra"]
    sockets = app.extensions["pizarra_sockets"]

    def flush_pending() -> None:
        while not sockets.stopping:
            socketio.sleep(FLUSH_INTERVAL_SECONDS)
            try:
                container.questions_pipeline.flush_pending()
            except AppError as exc:
                log.debug("charges kept for later not written yet: %s", exc)
            except Exception:  # logged; the loop must outlive one bad record
                log.exception("writing the charges kept for later failed")

    socketio.start_background_task(flush_pending)


def drain(app: Flask, *, grace_seconds: float | None = None) -> dict[str, int]:
    """Stop taking students, hand every lesson off and close every connection, then wait (at
    most what is left of `grace_seconds`) for answers being written and for questions being
    answered to start their lessons. Returns what it did."""
    from app.extensions import socketio

    container = app.extensions["pizarra"]
    sockets = app.extensions["pizarra_sockets"]
    grace = container.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
    started = time.monotonic()
    if sockets.stopping:
        return {}
    sockets.stopping = True  # readiness 503, new connections 503, disconnects pause nothing

    lessons = container.streaming.hand_off_all(
        timeout=min(2.0, max(0.5, grace / 4), 4 * container.streaming.chunk_interval + 0.5)
    )
    # Connection slots are given back now (the stores are still open) rather than left to lapse.
    local = list(sockets.by_sid.items())
    for sid, socket in local:
        try:
            container.connections.disconnect(
                sid=sid, client_ip=socket.client_ip, session_id=socket.session_id
            )
        except AppError as exc:
            log.warning("connection %s not released: %s", sid, exc)
    server = socketio.server
    closed = 0
    if server is not None:
        for eio_socket in list(server.eio.sockets.values()):
            # Without a close packet: to every Socket.IO client this is a cut connection, which
            # it reconnects by itself (a close packet would read as "do not come back").
            eio_socket.close(wait=False, abort=True)
            closed += 1
    remaining = max(0.0, grace - (time.monotonic() - started) - 1.0)
    unfinished = container.generation.wait_written(remaining)
    # Questions still being answered start their lessons now (announced paused at their
    # start, for the students to resume on another process); then those greenlets end.
    remaining = max(0.0, grace - (time.monotonic() - started) - 1.0)
    unanswered = container.lessons.wait_answered(remaining, socketio.sleep)
    container.streaming.wait_stopped(1.0)
    report = {
        "lessons_handed_off": lessons,
        "connections_closed": closed,
        "answers_unfinished": unfinished,
        "questions_unanswered": unanswered,
    }
    log.info(
        "drained in %d ms: %d lessons handed off, %d connections closed, %d answers unfinished,"
        " %d questions unanswered",
        (time.monotonic() - started) * 1000,
        lessons,
        closed,
        unfinished,
        unanswered,
    )
    return report
