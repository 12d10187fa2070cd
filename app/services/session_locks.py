"""Per-session ordering of a student's events inside one process: Socket.IO handles each event
on a greenlet of its own, and a session's events must take effect in the order they arrived."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SessionLocks:
    """One holder at a time per session, waiters in arrival order; a session's lock is
    forgotten when nobody holds or waits for it (and kept for reuse: every lesson takes its
    session's lock ten times a second)."""

    SPARE = 4096

    def __init__(self) -> None:
        self._locks: dict[str, list[Any]] = {}  # session id -> [lock, holders and waiters]
        self._spare: list[Any] = []
        # Guards the bookkeeping (with real threads); never held while waiting for a session.
        self._guard = threading.Lock()

    def acquire(self, session_id: str) -> None:
        with self._guard:
            entry = self._locks.get(session_id)
            if entry is None:
                lock = self._spare.pop() if self._spare else threading.Lock()
                entry = self._locks[session_id] = [lock, 0]
            entry[1] += 1
        try:
            entry[0].acquire()
        except BaseException:
            self._forget(session_id, entry)
            raise

    def release(self, session_id: str) -> None:
        with self._guard:
            entry = self._locks[session_id]
        entry[0].release()
        self._forget(session_id, entry)

    def _forget(self, session_id: str, entry: list[Any]) -> None:
        with self._guard:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[session_id]
                if len(self._spare) < self.SPARE:
                    self._spare.append(entry[0])  # (released: nobody holds or waits for it)

    @contextmanager
    def held(self, session_id: str) -> Iterator[None]:
        self.acquire(session_id)
        try:
            yield
        finally:
            self.release(session_id)
