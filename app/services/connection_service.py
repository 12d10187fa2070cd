"""Socket.IO connections: who connects (the same token check as HTTP), how many per client
address across all server processes, and which live session they get or resume."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.auth.verifier import Principal
from app.errors import AppError, Unauthorized
from app.repositories.session_repo import SessionRepository
from app.services.auth_service import AuthService
from app.services.ports import SocketGateway
from app.services.session_service import SessionService

log = logging.getLogger(__name__)

# A connection's slot is kept alive by a heartbeat every HEARTBEAT_SECONDS; a process that dies
# stops beating and its slots lapse after STALE_AFTER_SECONDS.
HEARTBEAT_SECONDS = 30
STALE_AFTER_SECONDS = 90


class TooManyConnections(AppError):
    code = "TOO_MANY_CONNECTIONS"
    http_status = 429
    default_message = "Hay demasiadas conexiones abiertas desde tu red. Cierra alguna pestaña."


@dataclass(frozen=True)
class Connection:
    principal: Principal
    session_id: str
    resumed: bool


class ConnectionService:
    def __init__(
        self,
        *,
        auth: AuthService | None,
        sessions: SessionService,
        session_repo: SessionRepository,
        max_per_ip: int,
        sockets: SocketGateway | None = None,
    ):
        self.auth = auth
        self.sessions = sessions
        self.session_repo = session_repo
        self.max_per_ip = max_per_ip
        self.sockets = sockets

    def authenticate(self, token: object) -> Principal:
        if self.auth is None:
            raise Unauthorized("La autenticación no está configurada en este servidor.")
        return self.auth.authenticate(token)

    def connect(
        self, *, token: object, sid: str, client_ip: str, previous_session_id: object
    ) -> Connection:
        principal = self.authenticate(token)
        if not self.session_repo.claim_connection(
            client_ip, sid, limit=self.max_per_ip, stale_after=STALE_AFTER_SECONDS
        ):
            raise TooManyConnections()
        try:
            previous = self.sessions.session_of(
                previous_session_id if isinstance(previous_session_id, str) else None,
                principal.user_id,
            )
            if previous is not None:
                session_id = str(previous_session_id)
                self.sessions.update_session(session_id, {"connection_id": sid})
                replaced = previous.connection_id
                if replaced and replaced != sid and self.sockets is not None:
                    # One socket per session: the newest (a reconnect, or a tab that carried
                    # the session over) takes it, and an older one still open is told so and
                    # closed, rather than watching a lesson it no longer controls.
                    try:
                        self.sockets.end_connection(replaced, reason="replaced")
                    except Exception as exc:  # noqa: BLE001 - the new socket is connected
                        log.warning("could not close the replaced socket %s: %s", replaced, exc)
                return Connection(principal, session_id, resumed=True)
            session_id = self.sessions.create_session(principal.user_id, connection_id=sid)
            return Connection(principal, session_id, resumed=False)
        except BaseException:
            self.session_repo.release_connection(client_ip, sid)
            raise

    def disconnect(self, *, sid: str, client_ip: str, session_id: str | None) -> bool:
        """Release the connection; True if it was its session's current one (and not a stale
        socket of a session since resumed elsewhere)."""
        self.session_repo.release_connection(client_ip, sid)
        if not session_id:
            return False
        return self.session_repo.release_connection_id(session_id, sid)

    def reauthenticate(self, *, token: object, user_id: str) -> Principal:
        """A fresh token for the same student keeps the socket and its lesson."""
        principal = self.authenticate(token)
        if principal.user_id != user_id:
            raise Unauthorized("Ese token es de otra cuenta.")
        return principal

    def heartbeat(self, connections_by_ip: dict[str, list[str]]) -> None:
        for client_ip, sids in connections_by_ip.items():
            if sids:
                self.session_repo.refresh_connections(
                    client_ip, sids, stale_after=STALE_AFTER_SECONDS
                )
