"""SQL on Supabase's `auth` schema: login sessions (read everywhere) and, for local auth only,
the users and sessions behind development tokens."""

from __future__ import annotations

import json
from typing import Any

from app.repositories.base import DbConnection


class AuthRepository:
    def session_is_active(self, conn: DbConnection, *, session_id: str, user_id: str) -> bool:
        """The login session exists (no logout), has not passed its end, and the user is not
        banned."""
        row = conn.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
                 WHERE s.id = %s AND s.user_id = %s
                   AND (s.not_after IS NULL OR s.not_after > now())
                   AND (u.banned_until IS NULL OR u.banned_until <= now())
            ) AS active
            """,
            (session_id, user_id),
        ).fetchone()
        return bool(row and row["active"])

    # -- local auth only ------------------------------------------------------------------
    def upsert_local_user(
        self, conn: DbConnection, *, email: str, user_metadata: dict[str, Any]
    ) -> str:
        row = conn.execute(
            """
            INSERT INTO auth.users (email, raw_user_meta_data, last_sign_in_at)
            VALUES (%s, %s, now())
            ON CONFLICT (email) WHERE is_sso_user = FALSE DO UPDATE SET last_sign_in_at = now()
            RETURNING id
            """,
            (email, json.dumps(user_metadata)),
        ).fetchone()
        assert row is not None
        return str(row["id"])

    def create_local_session(self, conn: DbConnection, *, user_id: str) -> str:
        row = conn.execute(
            "INSERT INTO auth.sessions (user_id) VALUES (%s) RETURNING id", (user_id,)
        ).fetchone()
        assert row is not None
        return str(row["id"])

    def delete_local_sessions(self, conn: DbConnection, *, user_id: str) -> int:
        return conn.execute("DELETE FROM auth.sessions WHERE user_id = %s", (user_id,)).rowcount
