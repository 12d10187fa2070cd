"""Access to the two stores, turning their failures into a domain error.

Services own transactions through `Database.transaction()`; repositories receive the connection
and never commit. A store that is down or slow becomes `ServiceUnavailable` (a clear 503 or
socket error) within the configured timeouts instead of a hang or a stack trace.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar, cast

import psycopg
import redis
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from app.errors import ServiceUnavailable
from app.metrics import watch_pool

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Errors that mean "the database is not reachable or not answering", as opposed to a bug in a
# query (ProgrammingError) or a constraint violation (IntegrityError), which must surface as such.
_PG_UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)

# Pool connections return rows as dicts (row_factory=dict_row below).
DbConnection = psycopg.Connection[DictRow]


# While PostgreSQL is unreachable, how long a caller waits for a connection (see Database._wait).
UNREACHABLE_WAIT_SECONDS = 0.5
UNREACHABLE_MEMORY_SECONDS = 10.0


class Database:
    def __init__(self, pool: ConnectionPool, *, transaction_statement_timeout_ms: int = 0):
        """`transaction_statement_timeout_ms`: a statement timeout set inside each transaction,
        for a transaction-mode pooler (PgBouncer, Supavisor), which refuses it as a connection
        option and would carry a session-wide SET over to other clients."""
        self.pool = pool
        self.transaction_statement_timeout_ms = transaction_statement_timeout_ms
        self._connection_errors = 0  # the pool's failed connection attempts, as last seen
        self._unreachable_until = 0.0  # (monotonic) see _wait

    def _wait(self) -> float | None:
        """How long to wait for a connection: the pool's timeout, except for a while after
        PostgreSQL was found unreachable (the pool failing to connect), when a caller is told
        at once rather than after the whole timeout, and what can go on without PostgreSQL goes
        on. (A pool merely busy under load keeps its whole timeout.)"""
        return UNREACHABLE_WAIT_SECONDS if time.monotonic() < self._unreachable_until else None

    def _failed(self) -> None:
        errors = self.pool.get_stats().get("connections_errors", 0)
        if errors > self._connection_errors:
            self._unreachable_until = time.monotonic() + UNREACHABLE_MEMORY_SECONDS
        self._connection_errors = errors

    def _succeeded(self) -> None:
        self._unreachable_until = 0.0

    @contextmanager
    def transaction(self) -> Iterator[DbConnection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        try:
            with self.pool.connection(timeout=self._wait()) as conn, conn.transaction():
                if self.transaction_statement_timeout_ms:
                    conn.execute(
                        "SELECT set_config('statement_timeout', %s, true)",
                        (str(self.transaction_statement_timeout_ms),),
                    )
                yield cast(DbConnection, conn)
        except _PG_UNAVAILABLE as exc:
            log.warning("PostgreSQL unavailable: %s", exc)
            self._failed()
            raise ServiceUnavailable() from exc
        self._succeeded()

    @contextmanager
    def connection(self) -> Iterator[DbConnection]:
        """A connection in autocommit mode, for reads that need no transaction."""
        try:
            with self.pool.connection(timeout=self._wait()) as conn:
                yield cast(DbConnection, conn)
        except _PG_UNAVAILABLE as exc:
            log.warning("PostgreSQL unavailable: %s", exc)
            self._failed()
            raise ServiceUnavailable() from exc
        self._succeeded()

    def ping(self, timeout: float = 2.0) -> bool:
        try:
            with self.pool.connection(timeout=timeout) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.info("PostgreSQL not ready: %s", exc)
            return False

    def close(self) -> None:
        self.pool.close()


def create_pool(
    conninfo: str,
    *,
    min_size: int,
    max_size: int,
    timeout: float,
    connect_timeout: int,
    statement_timeout_ms: int,
    prepare_threshold: int | None,
    name: str = "pizarra",
) -> ConnectionPool:
    """A pool of autocommit connections returning dict rows; opened without waiting so the
    process starts (and reports not-ready) while PostgreSQL is down.

    Each connection is checked (an empty query, one round trip) as it is handed out: after a
    network cut, a database restart or a pooler failover the idle connections are dead without
    knowing it, and each would otherwise fail the request that draws it."""
    kwargs: dict[str, object] = {
        "autocommit": True,
        "row_factory": dict_row,
        "connect_timeout": connect_timeout,
        "prepare_threshold": prepare_threshold,
        "application_name": name,
    }
    if statement_timeout_ms and prepare_threshold is not None:
        # (Not through a transaction-mode pooler, which refuses startup options: see Database.)
        kwargs["options"] = f"-c statement_timeout={statement_timeout_ms}"
    pool = ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs=kwargs,
        name=name,
        open=False,
        reconnect_timeout=60,
        check=ConnectionPool.check_connection,
    )
    pool.open(wait=False)
    watch_pool(pool)
    return pool


def create_redis(url: str, *, socket_timeout: float, max_connections: int = 100) -> redis.Redis:
    """A client over a bounded pool: when every connection is busy (a burst of greenlets), a
    caller waits up to `socket_timeout` for one instead of failing at once."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        decode_responses=True,
        socket_connect_timeout=socket_timeout,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


def redis_call(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a Redis outage inside a repository method into ServiceUnavailable."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("Redis unavailable: %s", exc)
            raise ServiceUnavailable() from exc

    return wrapper


def ping_redis(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.info("Redis not ready: %s", exc)
        return False
