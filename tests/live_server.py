"""A real server process (run.py, gevent) on its own database, for tests that must go through
real sockets: the API fuzzing and concurrency under the production server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from app.container import Container
from app.devstack import free_port
from tests.conftest import (
    TEST_JWT_SECRET,
    TEST_SECRET,
    build_test_container,
    create_database,
    drop_database,
)

ROOT = Path(__file__).resolve().parents[1]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment minus anything that configures the app, plus what the test sets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "FLASK_", "SUPABASE_", "EMBEDDED_"))
        and k not in {"PORT", "HOST", "SECRET_KEY", "DATA_DIR", "LOCAL_AUTH", "ASYNC_MODE"}
    }
    env.update(PYTHONPATH=str(ROOT), DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 90) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"run.py exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            # Connection: close, so no idle keep-alive connection holds up a graceful stop.
            response = requests.get(
                f"http://127.0.0.1:{port}/readyz", timeout=2, headers={"Connection": "close"}
            )
            if response.status_code == 200:
                return response
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or listening while its worker still boots
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"not ready within {timeout}s:\n{proc.stdout.read()}")


def stop(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"did not stop within 30s after {signal.Signals(sig).name}:\n{output}")
    return proc.returncode, output


@dataclass
class LiveServer:
    url: str
    container: Container  # the same database and Redis, for setting up data and tokens
    process: subprocess.Popen
    database_url: str


@contextmanager
def running_server(
    pg_server_url: str,
    redis_url: str,
    tmp_path: Path,
    *,
    database_url: str | None = None,
    **env: str,
) -> Iterator[LiveServer]:
    """A server process on a new database, or on `database_url` (another server's, to run
    several processes of one deployment)."""
    owns_database = database_url is None
    database_url = database_url or create_database(pg_server_url)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py")],
        cwd=tmp_path,
        env=clean_env(
            tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            PORT=str(port),
            SECRET_KEY=TEST_SECRET,
            SUPABASE_JWT_SECRET=TEST_JWT_SECRET,
            LOG_LEVEL=env.pop("LOG_LEVEL", "WARNING"),
            **env,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    container = None
    try:
        wait_ready(proc, port)
        container = build_test_container(database_url=database_url, redis_url=redis_url)
        yield LiveServer(f"http://127.0.0.1:{port}", container, proc, database_url)
        if proc.poll() is None:  # (a test may have killed it on purpose)
            code, output = stop(proc, signal.SIGTERM)
            assert code == 0 and "Traceback" not in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if container is not None:
            container.close()
        if owns_database:
            drop_database(pg_server_url, database_url)
