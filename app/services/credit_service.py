"""Credits and daily limits: the one place that owns the rule.

Every answered question costs 1 credit and 1 unit of the daily limit. Credits are the plan's
monthly allotment (renewed lazily on the first use of a new month, never taking credits away);
the daily count resets lazily on the first use of a new day. Days and months are the student's
(`profiles.time_zone`, UTC by default).

Spending locks the student's profile row for the length of one transaction, so concurrent
requests are serialized and can never overspend; each spend and refund writes a `credit_usage`
row with the balance before and after.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import AppError, NotFound
from app.models.account import SpendReceipt
from app.repositories.base import Database, DbConnection
from app.repositories.profile_repo import ProfileRepository


class InsufficientCredits(AppError):
    code = "INSUFFICIENT_CREDITS"
    http_status = 402
    default_message = "Te quedaste sin créditos. Se renuevan al inicio del próximo mes."


class DailyLimitReached(AppError):
    code = "DAILY_LIMIT_REACHED"
    http_status = 429
    default_message = "Llegaste a tu límite de preguntas de hoy. Vuelve mañana."


def zone_of(profile: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(profile.get("time_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    tomorrow = local.date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone)


def next_month_start(now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone).date()
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=zone)


def seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


@dataclass(frozen=True)
class Balance:
    """A profile's credits and daily count as they stand now, resets applied."""

    credits_remaining: int
    credits_total: int
    credits_period_start: date
    daily_limit: int
    daily_used: int
    today: date
    credits_reset_at: datetime
    daily_reset_at: datetime

    @property
    def daily_remaining(self) -> int:
        return max(0, self.daily_limit - self.daily_used)


def effective_balance(
    profile: dict[str, Any], plan: dict[str, Any] | None, now: datetime
) -> Balance:
    zone = zone_of(profile)
    today = now.astimezone(zone).date()
    month_start = today.replace(day=1)
    remaining, total = profile["credits_remaining"], profile["credits_total"]
    period = profile["credits_period_start"]
    if period < month_start:
        allotment = plan["monthly_credits"] if plan else total
        remaining, total, period = max(remaining, allotment), allotment, month_start
    daily_used = profile["daily_used"] if profile["last_reset_date"] >= today else 0
    return Balance(
        credits_remaining=remaining,
        credits_total=total,
        credits_period_start=period,
        daily_limit=profile["daily_limit"],
        daily_used=daily_used,
        today=today,
        credits_reset_at=next_month_start(now, zone),
        daily_reset_at=next_midnight(now, zone),
    )


def _refuse_when_spent(balance: Balance, now: datetime) -> None:
    if balance.credits_remaining < 1:
        raise InsufficientCredits(retry_after=seconds_until(balance.credits_reset_at, now))
    if balance.daily_used >= balance.daily_limit:
        raise DailyLimitReached(retry_after=seconds_until(balance.daily_reset_at, now))


class CreditService:
    def __init__(self, *, db: Database, profiles: ProfileRepository):
        self.db = db
        self.profiles = profiles

    def consume(
        self,
        *,
        user_id: str,
        action_type: str = "ai_question",
        interaction_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> SpendReceipt:
        with self.db.transaction() as conn:
            return self.consume_in(
                conn,
                user_id=user_id,
                action_type=action_type,
                interaction_id=interaction_id,
                details=details,
            )

    def consume_in(
        self,
        conn: DbConnection,
        *,
        user_id: str,
        action_type: str = "ai_question",
        interaction_id: str | None = None,
        details: dict[str, Any] | None = None,
        provision: Callable[[], object] | None = None,
    ) -> SpendReceipt:
        """Spend 1 credit and 1 unit of today's limit inside the caller's transaction.
        `provision` creates a missing profile (then it is read again)."""
        now = datetime.now(UTC)
        balance = self._locked_balance(conn, user_id, now, provision)
        _refuse_when_spent(balance, now)
        usage_id = self._record_spend(
            conn,
            user_id,
            balance,
            credits=1,
            daily=1,
            action_type=action_type,
            interaction_id=interaction_id,
            details=details or {},
        )
        return SpendReceipt(
            usage_id=usage_id,
            credits_remaining=balance.credits_remaining - 1,
            daily_remaining=balance.daily_remaining - 1,
            day=balance.today,
        )

    def consume_late_in(
        self,
        conn: DbConnection,
        *,
        user_id: str,
        interaction_id: str,
        details: dict[str, Any],
        provision: Callable[[], object] | None = None,
    ) -> int:
        """Charge, inside the caller's transaction, a lesson already given while PostgreSQL
        was unavailable: 1 credit and 1 unit of the day if there are any left, else what is
        left (the use is recorded either way). The credits charged."""
        balance = self._locked_balance(conn, user_id, datetime.now(UTC), provision)
        credits = 1 if balance.credits_remaining >= 1 else 0
        daily = 1 if balance.daily_used < balance.daily_limit else 0
        self._record_spend(
            conn,
            user_id,
            balance,
            credits=credits,
            daily=daily,
            action_type="ai_question",
            interaction_id=interaction_id,
            details=details,
        )
        return credits

    def meter_voice(
        self,
        *,
        user_id: str,
        credits: int,
        details: dict[str, Any],
        provision: Callable[[DbConnection], object] | None = None,
    ) -> int:
        """Record a server-side transcription as a `voice` use costing `credits` (never more
        than remain; 0 records the use alone); the credits left. `provision(conn)` creates a
        missing profile."""
        with self.db.transaction() as conn:
            balance = self._locked_balance(
                conn,
                user_id,
                datetime.now(UTC),
                (lambda: provision(conn)) if provision is not None else None,
            )
            charged = max(0, min(credits, balance.credits_remaining))
            self._record_spend(
                conn,
                user_id,
                balance,
                credits=charged,
                daily=0,
                action_type="voice",
                interaction_id=None,
                details=details,
            )
        return balance.credits_remaining - charged

    def _record_spend(
        self,
        conn: DbConnection,
        user_id: str,
        balance: Balance,
        *,
        credits: int,
        daily: int,
        action_type: str,
        interaction_id: str | None,
        details: dict[str, Any],
    ) -> str:
        """Take `credits` and `daily` units from the balance and record the use; its id."""
        after = balance.credits_remaining - credits
        if credits or daily:
            self.profiles.save_balance(
                conn,
                user_id,
                credits_remaining=after,
                credits_total=balance.credits_total,
                credits_period_start=balance.credits_period_start,
                daily_used=balance.daily_used + daily,
                last_reset_date=balance.today,
            )
        return self.profiles.record_credit_usage(
            conn,
            user_id=user_id,
            action_type=action_type,
            credits_used=credits,
            credits_before=balance.credits_remaining,
            credits_after=after,
            interaction_id=interaction_id,
            details={**details, "day": balance.today.isoformat()},
        )

    def _locked_balance(
        self,
        conn: DbConnection,
        user_id: str,
        now: datetime,
        provision: Callable[[], object] | None,
    ) -> Balance:
        """The student's balance as it stands now, their profile row locked until the end of
        the transaction. `provision` creates a missing profile (then it is read again)."""
        found = self.profiles.get_with_plan(conn, user_id, for_update=True)
        if found is None and provision is not None:
            provision()
            found = self.profiles.get_with_plan(conn, user_id, for_update=True)
        if found is None:
            raise NotFound("No encontramos tu perfil.")
        profile, plan = found
        return effective_balance(profile, plan, now)

    def check_can_spend(self, user_id: str) -> int:
        """How many spends the student can make now; raise what a spend would raise when none
        (no credits, today's limit reached). Checked before work that costs money even when
        the spend comes later."""
        now = datetime.now(UTC)
        with self.db.connection() as conn:
            found = self.profiles.get_with_plan(conn, user_id)
        if found is None:
            return 1  # a new student's profile starts with the plan's credits
        profile, plan = found
        balance = effective_balance(profile, plan, now)
        _refuse_when_spent(balance, now)
        return min(balance.credits_remaining, balance.daily_limit - balance.daily_used)

    def refund_interaction(self, interaction_id: str, reason: str) -> bool:
        """Give back the charge of an interaction whose lesson could not be given (an answer
        whose generation failed midway). False when there was nothing left to give back."""
        with self.db.connection() as conn:
            spend = self.profiles.find_spend(conn, interaction_id)
        if spend is None:
            return False
        return self.refund(user_id=str(spend["user_id"]), usage_id=str(spend["id"]), reason=reason)

    def refund(self, *, user_id: str, usage_id: str, reason: str) -> bool:
        """Give back a spend (a failed answer). Idempotent: False if already refunded."""
        now = datetime.now(UTC)
        with self.db.transaction() as conn:
            profile = self.profiles.get(conn, user_id, for_update=True)
            usage = self.profiles.get_credit_usage(conn, usage_id, user_id=user_id)
            if profile is None or usage is None or usage["credits_used"] <= 0:
                raise NotFound("No encontramos ese consumo de créditos.")
            if self.profiles.refund_exists(conn, usage_id):
                return False
            plan = self.profiles.get_plan(conn, profile["plan_type"])
            balance = effective_balance(profile, plan, now)
            spent_today = usage["details"].get("day") == balance.today.isoformat()
            after = balance.credits_remaining + usage["credits_used"]
            self.profiles.save_balance(
                conn,
                user_id,
                credits_remaining=after,
                credits_total=balance.credits_total,
                credits_period_start=balance.credits_period_start,
                daily_used=max(0, balance.daily_used - 1) if spent_today else balance.daily_used,
                last_reset_date=balance.today,
            )
            self.profiles.record_credit_usage(
                conn,
                user_id=user_id,
                action_type="refund",
                credits_used=-usage["credits_used"],
                credits_before=balance.credits_remaining,
                credits_after=after,
                interaction_id=usage["interaction_id"],
                details={"refund_of": usage_id, "reason": reason},
            )
        return True
