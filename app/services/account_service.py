"""The student's account: profile provisioning, what `/auth/me` shows, preference changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.auth.verifier import Principal
from app.errors import Unauthorized
from app.models.account import MeResponse, ProfileUpdate
from app.repositories.base import Database, DbConnection
from app.repositories.profile_repo import ProfileRepository
from app.services.credit_service import effective_balance


class AccountService:
    def __init__(self, *, db: Database, profiles: ProfileRepository):
        self.db = db
        self.profiles = profiles

    def ensure_profile(self, conn: DbConnection, principal: Principal) -> dict[str, Any]:
        """The caller's profile, created from the token's claims if the auth trigger has not
        (e.g. users that existed before the trigger)."""
        profile = self.profiles.get(conn, principal.user_id)
        if profile is not None:
            return profile
        self.profiles.insert_if_missing(
            conn,
            user_id=principal.user_id,
            email=principal.email,
            full_name=principal.full_name,
            avatar_url=principal.avatar_url,
        )
        profile = self.profiles.get(conn, principal.user_id)
        if profile is None:  # the auth user itself is gone (deleted account)
            raise Unauthorized("Tu cuenta ya no existe.")
        return profile

    def get_me(self, principal: Principal) -> MeResponse:
        with self.db.transaction() as conn:
            profile = self.ensure_profile(conn, principal)
            plan = self.profiles.get_plan(conn, profile["plan_type"])
            progress = self.profiles.progress_summary(conn, principal.user_id)
        return self._me(profile, plan, progress)

    def update_me(self, principal: Principal, update: ProfileUpdate) -> MeResponse:
        changes = update.changes()
        with self.db.transaction() as conn:
            self.ensure_profile(conn, principal)
            profile = self.profiles.update_editable(conn, principal.user_id, changes)
            plan = self.profiles.get_plan(conn, profile["plan_type"])
            progress = self.profiles.progress_summary(conn, principal.user_id)
        return self._me(profile, plan, progress)

    def _me(self, profile, plan, progress) -> MeResponse:
        balance = effective_balance(profile, plan, datetime.now(UTC))
        return MeResponse.model_validate(
            {
                "profile": {**profile, "id": str(profile["id"])},
                "plan": plan
                or {
                    "name": profile["plan_type"],
                    "monthly_credits": profile["credits_total"],
                    "daily_limit": profile["daily_limit"],
                    "features": {},
                },
                "credits": {
                    "remaining": balance.credits_remaining,
                    "total": balance.credits_total,
                    "resets_at": balance.credits_reset_at,
                },
                "daily": {
                    "limit": balance.daily_limit,
                    "used": balance.daily_used,
                    "remaining": balance.daily_remaining,
                    "resets_at": balance.daily_reset_at,
                },
                "progress": [
                    {**row, "mastery_level": float(row["mastery_level"])} for row in progress
                ],
            }
        )
