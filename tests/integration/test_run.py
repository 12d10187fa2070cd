"""`run.py` as `make run` and the container start it: a real process on a real port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
import requests

from app.container import MIGRATIONS_DIR
from app.devstack import EmbeddedPostgres, EmbeddedRedis, free_port
from tests.conftest import TEST_SECRET, create_database, drop_database
from tests.live_server import ROOT, clean_env, stop, wait_ready

ALL_APPLIED = f"migrations: {len(list(MIGRATIONS_DIR.glob('[0-9]*.sql'))) + 1} applied"
pytestmark = pytest.mark.slow


def start(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py")],
        cwd=cwd,  # no .env there: only the environment we pass counts
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serves_on_configured_stores_and_stops_on_sigterm(pg_server_url, redis_url, tmp_path):
    database_url = create_database(pg_server_url)
    port = free_port()
    env = clean_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PORT=str(port),
        SECRET_KEY=TEST_SECRET,
    )
    try:
        proc = start(env, tmp_path)
        assert wait_ready(proc, port).json()["checks"] == {"postgres": True, "redis": True}
        assert requests.get(f"http://127.0.0.1:{port}/apidocs/", timeout=5).status_code == 200
        # Socket.IO answers its handshake over the same port.
        handshake = requests.get(
            f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling",
            timeout=5,
            headers={"Connection": "close"},
        )
        assert handshake.status_code == 200 and '"sid"' in handshake.text
        code, output = stop(proc, signal.SIGTERM)
        assert code == 0, output
        assert ALL_APPLIED in output
        assert "Traceback" not in output
    finally:
        drop_database(pg_server_url, database_url)


@pytest.fixture
def embedded_ports(tmp_path):
    """Ports for a run.py-managed embedded stack; whatever happens, nothing is left running."""
    pg_port, redis_port = free_port(), free_port()
    yield pg_port, redis_port
    EmbeddedRedis(tmp_path / "data" / "redis", redis_port).stop()
    EmbeddedPostgres(tmp_path / "data" / "postgres", pg_port).stop()


def test_without_urls_it_runs_embedded_stores_and_keeps_data_between_runs(tmp_path, embedded_ports):
    port = free_port()
    pg_port, redis_port = embedded_ports
    env = clean_env(
        tmp_path,
        PORT=str(port),
        EMBEDDED_PG_PORT=str(pg_port),
        EMBEDDED_REDIS_PORT=str(redis_port),
    )
    proc = start(env, tmp_path)
    wait_ready(proc, port)
    pg_url = f"postgresql://postgres@127.0.0.1:{pg_port}/pizarra"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE subscription_plans SET price_monthly = 1.23 WHERE name = 'basic'")
    redis.Redis(port=redis_port).set("answer_cache:persisted", "sí")

    # `make migrate` beside a running `make run` leaves that run's databases alone.
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--prepare-only"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert port_open(pg_port) and port_open(redis_port)
    assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200

    code, output = stop(proc, signal.SIGINT)  # Ctrl-C
    assert code == 0, output
    assert "Traceback" not in output
    assert not port_open(pg_port) and not port_open(redis_port), output

    proc = start(env, tmp_path)
    try:
        wait_ready(proc, port)
        with psycopg.connect(pg_url) as conn:
            price = conn.execute(
                "SELECT price_monthly FROM subscription_plans WHERE name = 'basic'"
            ).fetchone()[0]
        assert float(price) == 1.23
        assert redis.Redis(port=redis_port).get("answer_cache:persisted") == "sí".encode()
    finally:
        code, output = stop(proc, signal.SIGINT)
    assert code == 0
    assert "database is up to date" in output

    # The CLI starts the embedded stores for one command and stops them again.
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[x] 003_seed_data.sql" in result.stdout
    assert not port_open(pg_port) and not port_open(redis_port)


def test_bad_configuration_is_reported_without_a_traceback(tmp_path):
    env = clean_env(tmp_path, PORT="cinco mil", DATABASE_URL="mysql://nope")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr and "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_with_dev_defaults(tmp_path):
    env = clean_env(tmp_path, FLASK_ENV="production")
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr and "DATABASE_URL" in result.stderr
    assert not (tmp_path / "data").exists(), "no embedded server may start in production"


def test_the_container_command_migrates_then_serves_with_gunicorn(
    pg_server_url, redis_url, tmp_path
):
    """The Dockerfile's CMD, run as written, in a directory laid out like the image's WORKDIR."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    workdir = tmp_path / "srv"
    workdir.mkdir()
    for name in ("app", "migrations", "run.py", "gunicorn.conf.py"):
        (workdir / name).symlink_to(ROOT / name)
    database_url = create_database(pg_server_url)
    port = free_port()
    env = clean_env(
        tmp_path,
        FLASK_ENV="development",  # as docker-compose runs it: local auth shim on plain Postgres
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=TEST_SECRET,
        SUPABASE_JWT_SECRET=TEST_SECRET,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    env.pop("PYTHONPATH")
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_ready(proc, port)
        code, output = stop(proc, signal.SIGTERM)
        assert code == 0, output
        assert ALL_APPLIED in output
        assert "GeventWebSocketWorker" in output
    finally:
        if proc.poll() is None:
            proc.kill()
        drop_database(pg_server_url, database_url)


def test_a_taken_port_is_reported_without_a_traceback(pg_server_url, redis_url, tmp_path):
    import socket

    database_url = create_database(pg_server_url)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = clean_env(
            tmp_path,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            PORT=str(port),
            SECRET_KEY=TEST_SECRET,
        )
        try:
            result = subprocess.run(
                [sys.executable, str(ROOT / "run.py")],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            drop_database(pg_server_url, database_url)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_gevent_server_sends_small_frames_without_waiting_for_acks():
    """Lesson events leave in bursts of small frames: every accepted socket has TCP_NODELAY
    (Nagle's algorithm would hold each burst's second frame for the client's delayed ACK)."""
    import socket

    import run

    server = run.listener("127.0.0.1", free_port())
    try:
        client = socket.create_connection(server.getsockname(), timeout=5)
        accepted, _ = server.accept()
        with client, accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        server.close()


def test_a_taken_port_is_a_clear_refusal():
    import socket

    import run

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(run.PortInUse, match="is another server running"):
            run.listener("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_json_logs_name_the_request_and_never_show_the_token(pg_server_url, redis_url, tmp_path):
    database_url = create_database(pg_server_url)
    port = free_port()
    env = clean_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PORT=str(port),
        SECRET_KEY=TEST_SECRET,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
    )
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.Zm9yZ2VkLXNpZ25hdHVyZQ"
    try:
        proc = start(env, tmp_path)
        wait_ready(proc, port)
        refused = requests.get(
            f"http://127.0.0.1:{port}/api/v1/auth/me",
            headers={"Authorization": f"Bearer {forged}", "X-Request-ID": "probe-1"},
            timeout=5,
        )
        assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "probe-1"
        code, output = stop(proc, signal.SIGTERM)
        assert code == 0, output
    finally:
        if proc.poll() is None:
            proc.kill()
        drop_database(pg_server_url, database_url)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert not [line for line in output.splitlines() if line and not line.startswith("{")]
    about_probe = [line for line in lines if line.get("request_id") == "probe-1"]
    assert about_probe and "token refused" in about_probe[0]["message"]
    assert forged not in output
