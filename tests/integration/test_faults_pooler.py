"""Behind a transaction-mode pooler (Debian's PgBouncer, as Supabase's poolers work): each
transaction may run on another server connection, so prepared statements and session settings
do not carry over. With DATABASE_PREPARE_THRESHOLD=none the app runs a query any number of
times, keeps its statement timeout, and a server process serves lessons through it.

Skipped where `pgbouncer` is not installed (.ci/run installs Debian's package when it can)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from app.devstack import PG_SYSTEM_USER, _ensure_system_user, _port_open, free_port
from app.errors import ServiceUnavailable
from app.utils.text_processing import generate_hash
from tests.conftest import build_test_container, create_database, drop_database
from tests.integration.faults import ANSWERS, QUESTION, port_of, with_port
from tests.live_server import running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pgbouncer") is None,
        reason="pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does)",
    ),
]


@pytest.fixture(scope="module")
def database(pg_server_url) -> Iterator[str]:
    url = create_database(pg_server_url)
    migrator = build_test_container(database_url=url, redis_url="redis://127.0.0.1:1/0")
    try:
        migrator.migrations.upgrade()
        migrator.migrations.seed()
    finally:
        migrator.close()
    yield url
    drop_database(pg_server_url, url)


@pytest.fixture(scope="module")
def pooler(database) -> Iterator[str]:
    """PgBouncer in transaction mode in front of the test's PostgreSQL: the database's URL
    through it."""
    home = Path(tempfile.mkdtemp(prefix="pizarra-pgbouncer-"))
    home.chmod(0o755)  # (read by the user PgBouncer runs as)
    port = free_port()
    (home / "users.txt").write_text('"postgres" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""
[databases]
* = host=127.0.0.1 port={port_of(database)}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home / "users.txt"}
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
"""
    )
    for path in home.iterdir():
        path.chmod(0o644)
    command = ["pgbouncer", str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        _ensure_system_user(PG_SYSTEM_USER)
        command[1:1] = ["-u", PG_SYSTEM_USER]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        while not _port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"pgbouncer did not start:\n{process.communicate()[0]}")
            time.sleep(0.05)
        yield with_port(database, port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(home, ignore_errors=True)


def test_the_pooler_breaks_prepared_statements_across_transactions(pooler):
    """The control: what the setting avoids does happen through this pooler."""
    with (
        psycopg.connect(pooler, autocommit=True, prepare_threshold=5) as asker,
        psycopg.connect(pooler, autocommit=True) as other,
    ):
        for n in range(6):  # prepared on the 6th run, on one server connection
            asker.execute("SELECT %s::int", (n,))
        with other.transaction():  # holds that server connection
            other.execute("SELECT 1")
            with pytest.raises(psycopg.errors.InvalidSqlStatementName):
                asker.execute("SELECT %s::int", (7,))


def test_one_query_runs_any_number_of_times_through_the_pooler(pooler, redis_url):
    container = build_test_container(
        database_url=pooler, redis_url=redis_url, database_prepare_threshold=None
    )
    holder = psycopg.connect(pooler, autocommit=True)
    try:
        for n in range(12):
            if n % 3 == 2:
                # Another client holds a server connection: the next transactions of ours run
                # on the others.
                holder.execute("BEGIN")
                holder.execute("SELECT 1")
            with container.db.transaction() as conn:
                assert container.questions.get_by_code(conn, "2024Algebra14") is not None
            with container.db.connection() as conn:
                assert container.questions.get_by_code(conn, "2024Algebra14") is not None
            if n % 3 == 2:
                holder.execute("COMMIT")
    finally:
        holder.close()
        container.close()


def test_the_statement_timeout_holds_through_the_pooler(pooler, redis_url):
    """The pooler refuses it as a connection option: it is set in each transaction instead."""
    container = build_test_container(
        database_url=pooler,
        redis_url=redis_url,
        database_prepare_threshold=None,
        database_statement_timeout_ms=300,
    )
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable), container.db.transaction() as conn:
            conn.execute("SELECT pg_sleep(30)")
        assert time.monotonic() - started < 10
        with container.db.transaction() as conn:  # and it stays within its transaction
            assert conn.execute("SHOW statement_timeout").fetchone()["statement_timeout"] == "300ms"
    finally:
        container.close()


def test_a_server_process_answers_the_same_question_many_times_through_the_pooler(
    pg_server_url, redis_url, pooler, database, tmp_path
):
    with running_server(
        pg_server_url,
        redis_url,
        tmp_path,
        database_url=pooler,
        DATABASE_PREPARE_THRESHOLD="none",
        RATE_LIMIT_QUESTIONS="100",
    ) as live:
        direct = build_test_container(database_url=database, redis_url=redis_url)
        try:
            direct.answers.import_answers(ANSWERS)
            token = direct.dev_tokens.issue(email="pooler@example.com")
            with direct.db.transaction() as conn:
                conn.execute("UPDATE profiles SET daily_limit = 100, credits_remaining = 100")
            headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
            for n in range(12):
                if n % 4 == 0:
                    direct.sessions.evict_answer(generate_hash(QUESTION))  # (from PostgreSQL)
                ask = requests.post(
                    f"{live.url}/api/v1/questions/ask",
                    json={"question": QUESTION},
                    headers=headers,
                    timeout=30,
                )
                assert ask.status_code == 200, ask.text
                me = requests.get(f"{live.url}/api/v1/auth/me", headers=headers, timeout=30)
                assert me.status_code == 200, me.text
            assert me.json()["credits"]["remaining"] == 100 - 12
        finally:
            direct.close()
