"""Start Pizarra: `make run` (development) and the container image (production) both come here.

1. Patch the standard library for gevent first (before anything imports socket or threading).
2. Load and validate the configuration (a clear list of problems, no traceback).
3. Start the embedded PostgreSQL/Redis when DATABASE_URL/REDIS_URL are unset (never in production).
4. Apply pending migrations and seed data (AUTO_MIGRATE, default on).
5. Serve HTTP and Socket.IO until Ctrl-C or SIGTERM, then stop the embedded servers cleanly.

`python run.py --prepare-only` does steps 1-4 and exits: the container runs it before gunicorn.
"""

from __future__ import annotations

import os
import sys


def _async_mode() -> str:
    from dotenv import dotenv_values

    return os.environ.get("ASYNC_MODE") or dotenv_values(".env").get("ASYNC_MODE") or "gevent"


if __name__ == "__main__" and _async_mode() == "gevent":
    from gevent import monkey

    monkey.patch_all()

import gc  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402

log = logging.getLogger("pizarra")


def main(argv: list[str]) -> int:
    from app import configure_logging, create_app, resolve_backing_services
    from app.config import ConfigError, load_settings
    from app.devstack import DevStackError
    from app.errors import AppError

    prepare_only = "--prepare-only" in argv
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)

    resolved, devstack = resolve_backing_services(settings)
    if devstack is not None:
        try:
            devstack.start()
        except DevStackError as exc:
            log.error("%s", exc)
            return 1
    try:
        app = create_app(resolved)
        container = app.extensions["pizarra"]
        if settings.auto_migrate or prepare_only:
            try:
                applied = container.migrations.upgrade()
            except Exception as exc:  # noqa: BLE001 - reported, then exit non-zero
                log.error("migrations failed, not starting: %s", exc)
                container.close()
                return 1
            log.info(
                "migrations: %s", f"{len(applied)} applied" if applied else "database is up to date"
            )
            if applied:  # a new database (or new migrations): bring in the seed content too
                try:
                    report = container.seed.load()
                    log.info(
                        "seed content: %d questions, %d lessons", report.questions, report.answers
                    )
                except AppError as exc:  # the service runs without it; db seed retries
                    log.error("seed content not loaded: %s", exc)
        if prepare_only:
            container.close()
            return 0
        return _serve(app, resolved)
    finally:
        if devstack is not None:
            devstack.stop()


class PortInUse(Exception):
    pass


def listener(host: str, port: int):
    """The listening socket of `run.py`'s gevent server. Its accepted sockets inherit
    TCP_NODELAY (as under gunicorn, which sets it too): a lesson sends small frames in bursts
    (a chunk with its drawings, the start of a lesson with its first step), and with Nagle's
    algorithm the second frame of a burst waits for the client's delayed ACK, up to 40 ms."""
    import errno
    import socket

    sock = None
    try:
        # IPv4 unless the host is an IPv6 address (as gevent's own listener chooses).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        address = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0][4]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        if sock is not None:
            sock.close()
        hint = (
            "is another server running? Stop it or set PORT."
            if exc.errno == errno.EADDRINUSE
            else "check HOST and PORT."
        )
        raise PortInUse(f"cannot listen on {host}:{port} ({exc.strerror}): {hint}") from None
    return sock


def _serve_gevent(app, settings) -> None:
    """Flask-SocketIO's own gevent server, on a listener of ours (see `listener`)."""
    from gevent import pywsgi
    from geventwebsocket.handler import WebSocketHandler

    from app.extensions import socketio

    socketio.wsgi_server = pywsgi.WSGIServer(
        listener(settings.host, settings.port),
        app,
        handler_class=WebSocketHandler,
        log="default" if settings.log_level == "DEBUG" else None,
    )
    socketio.wsgi_server.serve_forever()


def _serve(app, settings) -> int:
    from app.extensions import socketio
    from app.lifecycle import drain, start_background_work

    if settings.async_mode == "gevent":
        import gevent

        def _stop_gevent() -> None:
            if app.extensions["pizarra_sockets"].stopping:
                return  # (a second signal while draining)
            log.info("shutting down: handing lessons off to the other processes")
            gevent.spawn(_drain_and_stop)

        def _drain_and_stop() -> None:
            server = socketio.wsgi_server
            if server is not None:
                # Stop accepting, so reconnections go to another process (close() would also
                # end serve_forever, and with it the process, before the lessons are handed off).
                server.stop_accepting()
                server.socket.close()
            try:
                drain(app)
            finally:
                if server is not None:
                    # Requests still open get two seconds, then socketio.run returns.
                    server.stop(timeout=2)

        gevent.signal_handler(signal.SIGTERM, _stop_gevent)
        gevent.signal_handler(signal.SIGINT, _stop_gevent)
    else:

        def _stop(signum, _frame):
            raise KeyboardInterrupt(signal.Signals(signum).name)  # drained below

        signal.signal(signal.SIGTERM, _stop)
    start_background_work(app)
    url = f"http://{settings.host}:{settings.port}"
    log.info(
        "Pizarra listening on %s (API docs at %s/apidocs, readiness at %s/readyz)", url, url, url
    )
    # Long-lived start-up objects are never garbage; keep full collections from scanning them.
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1000)
    try:
        if settings.async_mode == "gevent":
            _serve_gevent(app, settings)
        else:
            listener(settings.host, settings.port).close()  # (a clear message if taken)
            socketio.run(
                app,
                host=settings.host,
                port=settings.port,
                use_reloader=False,
                log_output=settings.log_level == "DEBUG",
                allow_unsafe_werkzeug=settings.async_mode == "threading",
            )
    except KeyboardInterrupt:
        log.info("shutting down")
    except PortInUse as exc:
        log.error("%s", exc)
        return 1
    finally:
        log.info("stopped serving")
        container = app.extensions["pizarra"]
        if not app.extensions["pizarra_sockets"].stopping:  # (not drained: not under gevent)
            try:
                drain(app)
            except Exception:  # stopping anyway; the leases lapse by themselves
                log.exception("could not hand the lessons off")
        container.streaming.stop_all()
        container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
