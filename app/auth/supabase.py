"""The few calls a server makes to Supabase Auth (GoTrue), through the `supabase_auth` client.

- `user_for_token`: who a token belongs to, asked of Supabase itself. Used only when the token
  cannot be verified locally (no JWT secret and no matching JWKS key).
- `sign_out`: end the user's login sessions in Supabase (a logout through the backend).

Pointed at `SUPABASE_URL`; tests point it at a local fake of these endpoints.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from supabase_auth import SyncGoTrueAdminAPI, SyncGoTrueClient
from supabase_auth.errors import AuthError

log = logging.getLogger(__name__)


class SupabaseAuthUnavailable(Exception):
    pass


class SupabaseAuth:
    def __init__(
        self,
        *,
        url: str,
        anon_key: str,
        service_key: str | None,
        timeout: float = 3.0,
    ):
        auth_url = f"{url.rstrip('/')}/auth/v1"
        self._http = httpx.Client(timeout=timeout)
        self._client = SyncGoTrueClient(
            url=auth_url,
            headers={"apikey": anon_key},
            auto_refresh_token=False,
            persist_session=False,
            http_client=self._http,
        )
        self._admin = (
            SyncGoTrueAdminAPI(
                url=auth_url,
                headers={"apikey": service_key, "Authorization": f"Bearer {service_key}"},
                http_client=self._http,
            )
            if service_key
            else None
        )

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The user Supabase says the token belongs to; None if Supabase refuses the token."""
        try:
            response = self._client.get_user(token)
        except AuthError as exc:
            if getattr(exc, "status", None) in (401, 403):
                return None
            raise SupabaseAuthUnavailable(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise SupabaseAuthUnavailable(str(exc)) from exc
        if response is None or response.user is None:
            return None
        return response.user.model_dump(mode="json")

    def sign_out(self, token: str) -> None:
        """End every login session of the token's user (scope global)."""
        if self._admin is None:
            return
        try:
            self._admin.sign_out(token, scope="global")
        except (AuthError, httpx.HTTPError) as exc:
            log.warning("Supabase sign-out failed: %s", exc)

    def close(self) -> None:
        self._http.close()
