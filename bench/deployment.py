"""A multi-process deployment of Pizarra on this machine, as production runs it: K gunicorn
processes (one gevent-websocket worker each, the Dockerfile's command line) sharing Socket.IO
rooms through Redis (`message_queue`), HAProxy in front, on a bench database and Redis database.

    .venv/bin/python bench/deployment.py --workers 2          # serve on :5100 until Ctrl-C

`bench/lesson_load.py --deploy 2` starts one itself. Everything started here is stopped on exit,
Ctrl-C or SIGTERM. It needs Debian's haproxy (`make bench-deps`), the machine's PostgreSQL
(the database `pizarra_bench` is created when missing) and Redis (database 9, emptied at start:
never point it at a database something else uses).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/pizarra_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
FORBIDDEN_REDIS_DBS = {15}  # CI's integration run


def dockerfile_gunicorn_args() -> list[str]:
    """The gunicorn arguments of the Dockerfile's CMD, without `--bind` (set per process), so
    that the bench runs what the image runs."""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD [") and "exec gunicorn " in line:
            shell = json.loads(line[len("CMD ") :])[-1]
            words = shlex.split(shell.split("exec gunicorn ", 1)[1])
            args: list[str] = []
            skip = False
            for word in words:
                if skip:
                    skip = False
                elif word == "--bind":
                    skip = True
                elif not word.startswith("--bind="):
                    args.append(word)
            return args
    raise DeploymentError("no `exec gunicorn ...` CMD found in the Dockerfile")


def replace_option(args: list[str], option: str, value: str) -> list[str]:
    if option not in args:
        return [option, value, *args]
    index = args.index(option)
    return [*args[: index + 1], value, *args[index + 2 :]]


HAPROXY_CFG = """\
global
    # Two descriptors per proxied connection, within this process's limit.
    maxconn {maxconn}
    # One thread: two cores here are shared with the servers and the load generator.
    nbthread 1

defaults
    mode http
    log global
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # An upgraded websocket is a tunnel: Socket.IO pings every 25 s, the tunnel outlives that.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout http-request 10s

frontend pizarra
    bind {host}:{port}
    maxconn {maxconn}
    default_backend workers

backend workers
    # A new client goes to the least loaded process; polling clients are pinned by a cookie
    # (Socket.IO's long-polling requests must all reach the process that holds the session).
    # Websocket-only clients need no stickiness: one connection is one session.
    balance leastconn
    cookie pizarra_worker insert indirect nocache httponly
    option httpchk GET /readyz
    http-check expect status 200
    # A process that stops answers /readyz 503 at once: taken out within about a second.
    default-server inter 1s fastinter 500ms downinter 2s fall 2 rise 2 maxconn 10000
    # A connection refused, or a 503 from a process that is stopping, is tried again on
    # another process rather than handed to the client.
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503
{servers}

frontend stats
    bind {host}:{stats_port}
    stats enable
    stats uri /
"""


class DeploymentError(Exception):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def missing_tools() -> list[str]:
    """What this machine lacks to run the deployment, as lines to print."""
    missing = []
    if not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()):
        missing.append("haproxy not found: run `make bench-deps` (apt-get install haproxy)")
    try:
        import psutil  # noqa: F401
    except ImportError:
        missing.append("psutil not installed: run `make venv` (requirements-dev.txt)")
    return missing


def max_proxied_connections() -> int:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    return max(100, min(20000, (limit - 200) // 2))


def haproxy_binary() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


def ensure_database(url: str) -> None:
    """Create the bench database when it does not exist yet (on the same server)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def empty_redis(url: str) -> None:
    import redis

    db = int(urlsplit(url).path.lstrip("/") or 0)
    if db in FORBIDDEN_REDIS_DBS:
        raise DeploymentError(f"Redis database {db} belongs to CI: use another (--redis-url)")
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@dataclass
class Deployment:
    """K gunicorn processes behind HAProxy. Use as a context manager."""

    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 5100
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    settings: dict[str, str] = field(default_factory=dict)  # extra environment for the app
    gunicorn_config: Path | None = None  # instead of the Dockerfile's --config (an A/B)
    log_dir: Path | None = None
    masters: list[subprocess.Popen] = field(default_factory=list)
    haproxy: subprocess.Popen | None = None
    worker_ports: list[int] = field(default_factory=list)
    stats_port: int = 0
    _tmp: tempfile.TemporaryDirectory | None = None
    _logs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """The app's environment: the bench's services, fixed secrets shared by every process
        (and by the load generator that signs the students' tokens), no embedded servers."""
        env = dict(os.environ)
        for name in ("TEST_DATABASE_URL", "TEST_REDIS_URL"):
            env.pop(name, None)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "FLASK_ENV": "development",  # local auth: the bench signs its own tokens
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "TRUSTED_PROXIES": "127.0.0.1",  # HAProxy's X-Forwarded-For is believed
            }
        )
        env.update(self.settings)
        return env

    def __enter__(self) -> Deployment:
        problems = missing_tools()
        if problems:
            raise DeploymentError("; ".join(problems))
        self._tmp = tempfile.TemporaryDirectory(prefix="pizarra-deploy-")
        tmp = Path(self._tmp.name)
        log_dir = self.log_dir or tmp
        log_dir.mkdir(parents=True, exist_ok=True)
        self.settings.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
        self.settings.setdefault("SUPABASE_JWT_SECRET", secrets.token_urlsafe(32))
        self.settings.setdefault("DATA_DIR", str(tmp / "data"))
        try:
            ensure_database(self.database_url)
            empty_redis(self.redis_url)
            env = self.environment()
            gunicorn_args = dockerfile_gunicorn_args()
            if self.gunicorn_config is not None:
                gunicorn_args = replace_option(
                    gunicorn_args, "--config", str(self.gunicorn_config.resolve())
                )
            prepared = subprocess.run(
                [sys.executable, "run.py", "--prepare-only"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            if prepared.returncode != 0:
                raise DeploymentError(f"run.py --prepare-only failed:\n{prepared.stderr[-2000:]}")
            for index in range(self.workers):
                port = free_port(self.host)
                self.worker_ports.append(port)
                log = open(log_dir / f"gunicorn-{index + 1}.log", "w")
                self._logs.append(log)
                self.masters.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "gunicorn",
                            "--bind",
                            f"{self.host}:{port}",
                            *gunicorn_args,
                        ],
                        cwd=ROOT,
                        env={**env, "PORT": str(port), "HOST": self.host},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # a Ctrl-C reaches us; we stop them in order
                    )
                )
            for port in self.worker_ports:
                self._wait_ready(f"http://{self.host}:{port}/readyz")
            self.stats_port = free_port(self.host)
            servers = "\n".join(
                f"    server {self.server_name(i)} {self.host}:{port} check"
                f" cookie {self.server_name(i)}"
                for i, port in enumerate(self.worker_ports)
            )
            config = tmp / "haproxy.cfg"
            config.write_text(
                HAPROXY_CFG.format(
                    host=self.host,
                    port=self.port,
                    stats_port=self.stats_port,
                    servers=servers,
                    maxconn=max_proxied_connections(),
                )
            )
            checked = subprocess.run(
                [haproxy_binary(), "-c", "-q", "-f", str(config)], capture_output=True, text=True
            )
            if checked.returncode != 0:
                raise DeploymentError(f"haproxy config rejected: {checked.stderr.strip()}")
            log = open(log_dir / "haproxy.log", "w")
            self._logs.append(log)
            self.haproxy = subprocess.Popen(
                [haproxy_binary(), "-db", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._wait_ready(f"{self.url}/readyz")
            # Until HAProxy's health checks have passed (rise 2), it may route nowhere.
            time.sleep(4.5)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in [*self.masters, *([self.haproxy] if self.haproxy else [])]:
                if process.poll() is not None:
                    log = self._logs[[*self.masters, self.haproxy].index(process)]
                    log.flush()
                    tail = Path(log.name).read_text(errors="replace")[-3000:]
                    raise DeploymentError(
                        f"{'haproxy' if process is self.haproxy else 'gunicorn'}"
                        f" (pid {process.pid}) exited with"
                        f" {process.returncode}; its log ends:\n{tail}"
                    )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2) as reply,  # noqa: S310 - loopback
            ):
                if reply.status == 200:
                    return
            time.sleep(0.3)
        raise DeploymentError(f"{url} not ready after {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (the processes that serve), one per master."""
        import psutil

        pids: list[int] = []
        for master in self.masters:
            with contextlib.suppress(psutil.Error):
                pids.extend(child.pid for child in psutil.Process(master.pid).children())
        return pids

    def sessions_per_server(self) -> dict[str, dict[str, int]]:
        """HAProxy's counters per server: current and total sessions."""
        import csv
        import io

        url = f"http://{self.host}:{self.stats_port}/;csv"
        with urllib.request.urlopen(url, timeout=3) as reply:
            rows = csv.DictReader(io.StringIO(reply.read().decode().lstrip("# ")))
            return {
                row["svname"]: {"current": int(row["scur"] or 0), "total": int(row["stot"] or 0)}
                for row in rows
                if row["pxname"] == "workers" and row["svname"] not in ("BACKEND", "FRONTEND")
            }

    def server_name(self, index: int) -> str:
        """HAProxy's name (and cookie value) for the index-th gunicorn process (from 0)."""
        return f"w{index + 1}"

    def stop_process(self, index: int, timeout: float = 40.0) -> dict:
        """Stop one gunicorn process gracefully, as a deploy or a scale-in does: SIGTERM to its
        master (which passes it to its worker: drain, hand the lessons off, close the
        connections, exit), then wait for it to exit. HAProxy's health check on /readyz takes
        it out meanwhile. Returns its pids, exit code and seconds to exit (SIGKILL, and
        `killed`, when still there after `timeout`)."""
        master = self.masters[index]
        workers = self.worker_pids()  # before the signal: the worker leaves with its master
        import psutil

        worker = None
        with contextlib.suppress(psutil.Error):
            worker = next((c.pid for c in psutil.Process(master.pid).children()), None)
        sent = time.time()
        started = time.monotonic()
        master.send_signal(signal.SIGTERM)
        killed = False
        try:
            master.wait(timeout)
        except subprocess.TimeoutExpired:
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(master.pid, signal.SIGKILL)
            master.wait(5)
        return {
            "server": self.server_name(index),
            "master_pid": master.pid,
            "worker_pid": worker,
            "workers_before": workers,
            "sigterm_at": sent,
            "exit_code": master.returncode,
            "seconds_to_exit": round(time.monotonic() - started, 3),
            "killed": killed,
        }

    def log_tail(self, index: int, chars: int = 3000) -> str:
        """The end of the index-th gunicorn process's log."""
        log = self._logs[index]
        log.flush()
        return Path(log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """HAProxy first (no new clients), then each gunicorn master with SIGTERM (graceful,
        as a container stop: it drains), SIGKILL for what is still there after 35 s."""
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.haproxy.wait(5)
            if self.haproxy.poll() is None:
                self.haproxy.kill()
        for master in self.masters:
            if master.poll() is None:
                master.terminate()
        deadline = time.monotonic() + 35
        for master in self.masters:
            try:
                master.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(master.pid, signal.SIGKILL)  # its own session: master and worker
                master.wait(5)
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._tmp is not None and self.log_dir is None:
            self._tmp.cleanup()
            self._tmp = None


def stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does, so the `with` block stops what it started."""

    def _raise(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, _raise)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--port", type=int, default=5100, help="HAProxy's port")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--log-dir", type=Path, help="keep the processes' logs here")
    args = parser.parse_args()
    problems = missing_tools()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    stop_on_sigterm()
    deployment = Deployment(
        workers=args.workers,
        port=args.port,
        database_url=args.database_url,
        redis_url=args.redis_url,
        log_dir=args.log_dir,
    )
    try:
        with deployment:
            print(
                f"{args.workers} gunicorn workers (pids {deployment.worker_pids()}) behind HAProxy"
                f" on {deployment.url}, stats on http://{deployment.host}:{deployment.stats_port}/"
                " — Ctrl-C stops everything",
                flush=True,
            )
            while all(m.poll() is None for m in deployment.masters):
                time.sleep(1)
            print("a gunicorn process exited: stopping", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("stopped")
        return 0
    except DeploymentError as exc:
        print(f"deployment failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
