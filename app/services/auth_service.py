"""Who is calling: verified tokens whose login session is still alive.

A Supabase access token stays valid until it expires, even after the user logs out or is banned.
So after the signature and claims check, the token's `session_id` is looked up in
`auth.sessions` (the answer cached for at most AUTH_SESSION_CACHE_SECONDS), and a logout or ban
takes effect within that time.
"""

from __future__ import annotations

import logging
import time

import jwt

from app.auth.supabase import SupabaseAuth
from app.auth.verifier import AUDIENCE, Principal, TokenVerifier
from app.errors import InvalidInput, Unauthorized
from app.models.account import DevToken
from app.repositories.auth_repo import AuthRepository
from app.repositories.base import Database
from app.repositories.session_repo import SessionRepository
from app.services.ports import SocketGateway

log = logging.getLogger(__name__)

SESSION_ENDED = "Tu sesión se cerró. Inicia sesión de nuevo."


class AuthService:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        db: Database,
        auth_repo: AuthRepository,
        sessions: SessionRepository,
        session_cache_seconds: int,
    ):
        self.verifier = verifier
        self.db = db
        self.auth_repo = auth_repo
        self.sessions = sessions
        self.session_cache_seconds = session_cache_seconds

    def authenticate(self, token: object) -> Principal:
        principal = self.verifier.verify(token)
        self.ensure_session_active(principal)
        return principal

    def ensure_session_active(self, principal: Principal) -> None:
        if not principal.session_id:
            raise Unauthorized(SESSION_ENDED)
        cached = self.sessions.get_auth_session_active(principal.session_id)
        if cached is None:
            with self.db.connection() as conn:
                cached = self.auth_repo.session_is_active(
                    conn, session_id=principal.session_id, user_id=principal.user_id
                )
            self.sessions.set_auth_session_active(
                principal.session_id, cached, self.session_cache_seconds
            )
        if not cached:
            raise Unauthorized(SESSION_ENDED)


class LogoutService:
    """Logging out through the backend: this token stops working here at once (whatever Supabase
    still thinks of it), and the student's live lessons end."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        dev_tokens: DevTokenService | None,
        supabase: SupabaseAuth | None,
        sockets: SocketGateway | None = None,
    ):
        self.sessions = sessions
        self.dev_tokens = dev_tokens
        self.supabase = supabase
        self.sockets = sockets

    def logout(self, principal: Principal, token: str) -> list[str]:
        if self.supabase is not None:  # Supabase ends the login sessions everywhere
            self.supabase.sign_out(token)
        if principal.session_id:
            remaining = max(1, principal.expires_at - int(time.time()))
            self.sessions.set_auth_session_active(principal.session_id, False, remaining)
        if self.dev_tokens is not None:  # local auth stands in for Supabase's own sign-out
            self.dev_tokens.end_sessions(user_id=principal.user_id)
        ended = self.sessions.end_user_sessions(principal.user_id)
        if self.sockets is not None:
            for state in ended:
                if state.connection_id:
                    self.sockets.end_connection(state.connection_id, reason="logout")
        return [state.connection_id or "" for state in ended]


class DevTokenService:
    """Local auth only: users and tokens shaped exactly like Supabase's, for development and
    tests. Never available in production (LOCAL_AUTH is refused there)."""

    def __init__(
        self,
        *,
        db: Database,
        auth_repo: AuthRepository,
        jwt_secret: str,
        issuer: str | None,
    ):
        self.db = db
        self.auth_repo = auth_repo
        self.jwt_secret = jwt_secret
        self.issuer = issuer

    def issue(self, *, email: str, full_name: str | None = None, ttl_seconds: int = 3600) -> str:
        return self.sign_in(email=email, full_name=full_name, ttl_seconds=ttl_seconds).access_token

    def sign_in(
        self, *, email: str, full_name: str | None = None, ttl_seconds: int = 3600
    ) -> DevToken:
        """The local student of this email (created on first use) and a token for them."""
        email = email.strip().lower()
        if "@" not in email or len(email) > 254:
            raise InvalidInput("El correo no es válido.")
        if not 60 <= ttl_seconds <= 7 * 86_400:
            raise InvalidInput("La duración del token debe estar entre 60 s y 7 días.")
        metadata = {"full_name": full_name} if full_name else {}
        with self.db.transaction() as conn:
            user_id = self.auth_repo.upsert_local_user(conn, email=email, user_metadata=metadata)
            session_id = self.auth_repo.create_local_session(conn, user_id=user_id)
        now = int(time.time())
        claims = {
            "sub": user_id,
            "aud": AUDIENCE,
            "exp": now + ttl_seconds,
            "iat": now,
            "email": email,
            "phone": "",
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": metadata,
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": session_id,
            "is_anonymous": False,
        }
        if self.issuer:
            claims["iss"] = self.issuer
        return DevToken(
            access_token=jwt.encode(claims, self.jwt_secret, algorithm="HS256"),
            expires_in=ttl_seconds,
            expires_at=now + ttl_seconds,
        )

    def end_sessions(self, *, user_id: str) -> int:
        """What a logout does in Supabase Auth: the user's login sessions are gone."""
        with self.db.transaction() as conn:
            return self.auth_repo.delete_local_sessions(conn, user_id=user_id)
