"""Live sessions (the seed's SessionService): one per student connection, in Redis with a 30-minute
TTL renewed by activity, resumable from any server process."""

from __future__ import annotations

import uuid
from typing import Any

from app.models.session import SessionState, utcnow_iso
from app.repositories.session_repo import SessionRepository


class SessionService:
    def __init__(self, *, sessions: SessionRepository):
        self.sessions = sessions

    def create_session(self, user_id: str, *, connection_id: str | None = None) -> str:
        session_id = str(uuid.uuid4())
        self.sessions.save_session(
            session_id, SessionState(user_id=user_id, connection_id=connection_id)
        )
        return session_id

    def get_session(self, session_id: str) -> SessionState | None:
        """The session, its last activity and TTL renewed; None once it has expired."""
        state = self.sessions.get_session(session_id)
        if state is not None:
            self.sessions.update_session(session_id, {"last_activity": utcnow_iso()})
        return state

    def update_session(self, session_id: str, data: dict[str, Any]) -> bool:
        """Write some fields, renew the TTL; False if the session has expired."""
        return self.sessions.update_session(session_id, {**data, "last_activity": utcnow_iso()})

    def session_of(self, session_id: str | None, user_id: str) -> SessionState | None:
        """The session if it exists and belongs to this user (another user's reads as none)."""
        if not session_id:
            return None
        try:
            uuid.UUID(str(session_id))
        except ValueError:
            return None
        state = self.sessions.get_session(str(session_id))
        return state if state is not None and state.user_id == user_id else None
