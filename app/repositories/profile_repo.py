"""SQL for `profiles`, `subscription_plans`, `credit_usage` and the `user_progress` summary."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from app.repositories.base import DbConnection

_PROFILE = """id, email, full_name, avatar_url, plan_type, credits_remaining, credits_total,
    daily_limit, daily_used, last_reset_date, credits_period_start, time_zone,
    preferred_language, learning_level, created_at, updated_at"""

# Columns a student may change about themselves (never credits, limits or plan).
EDITABLE_COLUMNS = ("full_name", "preferred_language", "learning_level", "time_zone")


class ProfileRepository:
    def get(self, conn: DbConnection, user_id: str, *, for_update: bool = False):
        lock = " FOR UPDATE" if for_update else ""
        return conn.execute(
            f"SELECT {_PROFILE} FROM profiles WHERE id = %s{lock}", (user_id,)
        ).fetchone()

    def insert_if_missing(
        self,
        conn: DbConnection,
        *,
        user_id: str,
        email: str | None,
        full_name: str | None,
        avatar_url: str | None,
    ) -> None:
        """Provision the profile the auth trigger would have created. An email already used by
        another profile (the same person through another provider) is left off this one."""
        conn.execute(
            """
            INSERT INTO profiles (id, email, full_name, avatar_url)
            SELECT %(id)s,
                   CASE WHEN EXISTS (SELECT 1 FROM profiles WHERE email = %(email)s)
                        THEN NULL ELSE %(email)s END,
                   %(full_name)s, %(avatar_url)s
             WHERE EXISTS (SELECT 1 FROM auth.users WHERE id = %(id)s)
            ON CONFLICT DO NOTHING
            """,
            {"id": user_id, "email": email, "full_name": full_name, "avatar_url": avatar_url},
        )

    def update_editable(self, conn: DbConnection, user_id: str, fields: dict[str, Any]):
        columns = [name for name in EDITABLE_COLUMNS if name in fields]
        if not columns:
            return self.get(conn, user_id)
        assignments = ", ".join(f"{name} = %({name})s" for name in columns)
        return conn.execute(
            f"UPDATE profiles SET {assignments} WHERE id = %(id)s RETURNING {_PROFILE}",
            {**{name: fields[name] for name in columns}, "id": user_id},
        ).fetchone()

    def save_balance(
        self,
        conn: DbConnection,
        user_id: str,
        *,
        credits_remaining: int,
        credits_total: int,
        credits_period_start: Any,
        daily_used: int,
        last_reset_date: Any,
    ) -> None:
        conn.execute(
            """
            UPDATE profiles
               SET credits_remaining = %s, credits_total = %s, credits_period_start = %s,
                   daily_used = %s, last_reset_date = %s
             WHERE id = %s
            """,
            (
                credits_remaining,
                credits_total,
                credits_period_start,
                daily_used,
                last_reset_date,
                user_id,
            ),
        )

    def record_credit_usage(
        self,
        conn: DbConnection,
        *,
        user_id: str,
        action_type: str,
        credits_used: int,
        credits_before: int,
        credits_after: int,
        interaction_id: str | None,
        details: dict[str, Any],
    ) -> str:
        row = conn.execute(
            """
            INSERT INTO credit_usage (user_id, action_type, credits_used, credits_before,
                                      credits_after, interaction_id, details)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            (
                user_id,
                action_type,
                credits_used,
                credits_before,
                credits_after,
                interaction_id,
                Jsonb(details),
            ),
        ).fetchone()
        assert row is not None
        return str(row["id"])

    def get_credit_usage(self, conn: DbConnection, usage_id: str, *, user_id: str):
        return conn.execute(
            "SELECT id, user_id, action_type, credits_used, interaction_id, details, created_at "
            "FROM credit_usage WHERE id = %s AND user_id = %s",
            (usage_id, user_id),
        ).fetchone()

    def find_spend(self, conn: DbConnection, interaction_id: str):
        """The charge of an interaction (its spend of credits), if any."""
        return conn.execute(
            "SELECT id, user_id FROM credit_usage WHERE interaction_id = %s AND credits_used > 0 "
            "ORDER BY created_at LIMIT 1",
            (interaction_id,),
        ).fetchone()

    def refund_exists(self, conn: DbConnection, usage_id: str) -> bool:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM credit_usage WHERE action_type = 'refund' "
            "AND details ->> 'refund_of' = %s) AS done",
            (usage_id,),
        ).fetchone()
        return bool(row and row["done"])

    def get_with_plan(
        self, conn: DbConnection, user_id: str, *, for_update: bool = False
    ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The profile and its plan in one round trip (the profile row locked if asked)."""
        lock = " FOR UPDATE OF p" if for_update else ""
        columns = ", ".join(f"p.{name.strip()}" for name in _PROFILE.split(","))
        row = conn.execute(
            f"""
            SELECT {columns}, s.name AS plan__name, s.monthly_credits AS plan__monthly_credits,
                   s.daily_limit AS plan__daily_limit
              FROM profiles p LEFT JOIN subscription_plans s ON s.name = p.plan_type
             WHERE p.id = %s{lock}
            """,
            (user_id,),
        ).fetchone()
        if row is None:
            return None
        plan = {k.removeprefix("plan__"): v for k, v in row.items() if k.startswith("plan__")}
        profile = {k: v for k, v in row.items() if not k.startswith("plan__")}
        return profile, (plan if plan["name"] is not None else None)

    def get_plan(self, conn: DbConnection, name: str):
        return conn.execute(
            "SELECT name, monthly_credits, daily_limit, features, price_monthly, price_yearly "
            "FROM subscription_plans WHERE name = %s",
            (name,),
        ).fetchone()

    def progress_summary(self, conn: DbConnection, user_id: str) -> list[dict[str, Any]]:
        return conn.execute(
            """
            SELECT subject, total_practiced, total_correct, mastery_level, streak_days,
                   last_practice_at
              FROM user_progress WHERE user_id = %s ORDER BY subject
            """,
            (user_id,),
        ).fetchall()
