"""gunicorn hooks for the container image (`gunicorn -c gunicorn.conf.py ...`; the command line
in the Dockerfile sets the worker class, bind address and timeouts). What run.py does around
serving, a gunicorn worker does here: background work, the garbage collector's settings, and
the graceful stop.

SIGTERM drains the worker first (app/lifecycle.py): lessons are handed off to the other
processes and every student's connection closes so that it reconnects to one of them; then the
worker stops as gunicorn stops it. SIGQUIT and SIGINT still stop it at once (their lessons'
leases lapse and they resume elsewhere a few seconds later).
"""

from __future__ import annotations

import gc
import signal
import sys

# After the drain, how long requests still open may take before the worker exits.
OPEN_REQUESTS_GRACE_SECONDS = 3.0


def post_worker_init(worker) -> None:
    import gevent

    from app.lifecycle import drain, start_background_work

    app = worker.wsgi  # the Flask app ('app:create_app()')
    start_background_work(app)

    def drain_then_stop() -> None:
        try:
            drain(app)
        finally:
            worker.alive = False  # gunicorn's own stop: close the listener, end the worker
        # Requests still open get a few seconds (as under run.py); then the worker leaves
        # rather than wait out --graceful-timeout for idle keep-alive connections (a load
        # balancer's) that would hold it to the end.
        gevent.sleep(OPEN_REQUESTS_GRACE_SECONDS)
        worker.log.info("Worker exiting after its drain (pid: %s)", worker.pid)
        sys.exit(0)

    def on_sigterm(_signum, _frame) -> None:
        if not app.extensions["pizarra_sockets"].stopping:  # (a second one changes nothing)
            gevent.spawn(drain_then_stop)  # (out of the signal handler: drain blocks)

    signal.signal(signal.SIGTERM, on_sigterm)
    # As run.py does: long-lived start-up objects are never garbage; full collections skip them.
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1000)
