from datetime import UTC, date, datetime

from app.services.credit_service import effective_balance

PLAN = {"monthly_credits": 100}


def profile(**overrides):
    base = {
        "time_zone": "UTC",
        "credits_remaining": 3,
        "credits_total": 10,
        "credits_period_start": date(2026, 3, 1),
        "daily_limit": 5,
        "daily_used": 5,
        "last_reset_date": date(2026, 3, 10),
    }
    base.update(overrides)
    return base


NOW = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def test_same_day_and_month_keep_the_counts():
    balance = effective_balance(profile(), PLAN, NOW)
    assert (balance.credits_remaining, balance.daily_used, balance.daily_remaining) == (3, 5, 0)
    assert balance.daily_reset_at == datetime(2026, 3, 11, tzinfo=UTC)
    assert balance.credits_reset_at == datetime(2026, 4, 1, tzinfo=UTC)


def test_the_day_turns_at_the_students_midnight():
    # 20:00 UTC on the 10th is 10:00 on the 11th in Kiritimati (UTC+14): a new day there.
    balance = effective_balance(profile(time_zone="Pacific/Kiritimati"), PLAN, NOW)
    assert balance.today == date(2026, 3, 11)
    assert balance.daily_used == 0
    assert balance.daily_reset_at.astimezone(UTC) == datetime(2026, 3, 11, 10, 0, tzinfo=UTC)
    # ...and still the 10th in Bogotá, where the limit stands.
    assert effective_balance(profile(time_zone="America/Bogota"), PLAN, NOW).daily_used == 5


def test_a_new_month_renews_to_the_plan_without_taking_credits_away():
    renewed = effective_balance(profile(credits_period_start=date(2026, 2, 1)), PLAN, NOW)
    assert (renewed.credits_remaining, renewed.credits_total) == (100, 100)
    assert renewed.credits_period_start == date(2026, 3, 1)
    rich = effective_balance(
        profile(credits_period_start=date(2026, 2, 1), credits_remaining=250), PLAN, NOW
    )
    assert rich.credits_remaining == 250


def test_december_renews_in_january():
    balance = effective_balance(profile(), PLAN, datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    assert balance.credits_reset_at == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_unknown_time_zone_falls_back_to_utc():
    assert effective_balance(profile(time_zone="Nowhere/Land"), PLAN, NOW).today == NOW.date()
