"""Pizarra: the backend of live lessons for Spanish-speaking students preparing for exams."""

from __future__ import annotations

import atexit
import logging

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.config import ConfigError, Settings, load_settings

__all__ = ["create_app"]


class JSONProvider(DefaultJSONProvider):
    ensure_ascii = False  # Spanish text stays readable in responses
    sort_keys = False  # fields in the order the code builds them


_handler: logging.Handler | None = None


def configure_logging(level: str, fmt: str = "text") -> None:
    """Lines on stderr, plain or JSON (LOG_FORMAT), tokens redacted. A process whose logging is
    set up already (a test runner's) keeps its own handlers."""
    from app.utils.logs import JsonFormatter, TextFormatter

    global _handler
    root = logging.getLogger()
    if _handler is None and not root.handlers:
        _handler = logging.StreamHandler()
        root.addHandler(_handler)
    if _handler is not None:
        _handler.setFormatter(
            JsonFormatter()
            if fmt == "json"
            else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    root.setLevel(level)
    # One line per request from the WSGI server is enough; libraries stay at WARNING.
    for noisy in ("psycopg.pool", "engineio.server", "socketio.server", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def resolve_backing_services(settings: Settings):
    """Fill DATABASE_URL / REDIS_URL with the embedded servers' addresses when unset.
    Returns (settings, devstack or None); starting the servers is the caller's decision."""
    if settings.database_url and settings.redis_url:
        return settings, None
    if settings.is_production:
        raise ConfigError(["DATABASE_URL and REDIS_URL are required in production"])
    from app.devstack import DevStack

    devstack = DevStack.for_settings(settings)
    return settings.model_copy(update=devstack.urls), devstack


def create_app(settings: Settings | None = None) -> Flask:
    from app.api.v1 import register_api
    from app.cli import register_cli
    from app.container import build_container
    from app.controllers.cors import register_cors, socket_origin_check
    from app.controllers.errors import register_error_handlers
    from app.controllers.request_ids import register_request_ids
    from app.controllers.validation import reject_nul_in_url
    from app.extensions import create_swagger, socketio
    from app.lifecycle import install as install_drain_gate
    from app.socket_events import register_socket_handlers
    from app.socket_events.connection import LocalSockets
    from app.socket_events.message_limit import install_message_limit

    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    settings, devstack = resolve_backing_services(settings)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.json = JSONProvider(app)

    container = build_container(settings)
    app.extensions["pizarra"] = container
    # Close the pool before interpreter teardown (gunicorn workers exit without a hook of ours).
    atexit.register(container.close)
    app.extensions["pizarra_devstack"] = devstack
    app.extensions["pizarra_sockets"] = LocalSockets()

    register_error_handlers(app)
    register_cors(app, settings.cors_origins)
    register_request_ids(app)
    app.before_request(reject_nul_in_url)
    register_api(app)
    register_cli(app)
    create_swagger().init_app(app)

    socketio.init_app(
        app,
        async_mode=settings.async_mode,
        cors_allowed_origins=socket_origin_check(settings.cors_origins),
        message_queue=settings.redis_url,
        max_http_buffer_size=settings.socket_max_message_bytes,
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
    )
    register_socket_handlers(socketio)
    install_message_limit(app, socketio, settings.socket_max_message_bytes)
    install_drain_gate(app)
    return app
