"""The credit rule on a real database: no overspend under concurrency, lazy resets, refunds."""

import threading
from datetime import UTC, date, datetime, timedelta

import jwt
import pytest

from app.errors import AppError


@pytest.fixture
def student(container, issue_token):
    token = issue_token("ana@example.com")
    return jwt.decode(token, options={"verify_signature": False})["sub"]


def set_profile(container, user_id, **fields):
    assignments = ", ".join(f"{name} = %({name})s" for name in fields)
    with container.db.transaction() as conn:
        conn.execute(
            f"UPDATE profiles SET {assignments} WHERE id = %(id)s", {**fields, "id": user_id}
        )


def profile(container, user_id):
    with container.db.connection() as conn:
        return conn.execute("SELECT * FROM profiles WHERE id = %s", (user_id,)).fetchone()


def usage(container, user_id):
    with container.db.connection() as conn:
        return conn.execute(
            "SELECT action_type, credits_used, credits_before, credits_after, details "
            "FROM credit_usage WHERE user_id = %s ORDER BY created_at, credits_before DESC",
            (user_id,),
        ).fetchall()


def test_each_question_costs_one_credit_and_one_daily_unit(container, student):
    receipt = container.credits.consume(user_id=student)
    assert (receipt.credits_remaining, receipt.daily_remaining) == (9, 4)
    row = profile(container, student)
    assert (row["credits_remaining"], row["daily_used"]) == (9, 1)
    [record] = usage(container, student)
    assert (record["action_type"], record["credits_before"], record["credits_after"]) == (
        "ai_question",
        10,
        9,
    )


def test_fifty_concurrent_spends_against_ten_credits_succeed_exactly_ten_times(container, student):
    set_profile(container, student, daily_limit=100)
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def spend():
        barrier.wait()
        try:
            container.credits.consume(user_id=student)
            outcomes.append("ok")
        except AppError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=spend) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes.count("ok") == 10
    assert outcomes.count("INSUFFICIENT_CREDITS") == 40
    assert profile(container, student)["credits_remaining"] == 0
    chain = sorted(
        ((r["credits_before"], r["credits_after"]) for r in usage(container, student)), reverse=True
    )
    assert chain == [(n, n - 1) for n in range(10, 0, -1)]


def test_out_of_credits_says_when_they_renew(container, student):
    set_profile(container, student, credits_remaining=0)
    with pytest.raises(AppError) as info:
        container.credits.consume(user_id=student)
    assert info.value.code == "INSUFFICIENT_CREDITS"
    assert info.value.http_status == 402
    now = datetime.now(UTC)
    first_of_next_month = (now.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    expected = (first_of_next_month - now).total_seconds()
    assert abs(info.value.retry_after - expected) < 5


def test_daily_limit_stops_the_sixth_question_until_midnight(container, student):
    for _ in range(5):
        container.credits.consume(user_id=student)
    with pytest.raises(AppError) as info:
        container.credits.consume(user_id=student)
    assert info.value.code == "DAILY_LIMIT_REACHED"
    assert 0 < info.value.retry_after <= 86_400
    assert profile(container, student)["credits_remaining"] == 5


def test_a_new_day_resets_the_daily_count(container, student):
    set_profile(container, student, daily_used=5, last_reset_date=date(2020, 1, 1))
    receipt = container.credits.consume(user_id=student)
    assert receipt.daily_remaining == 4
    assert profile(container, student)["daily_used"] == 1


def test_a_new_month_renews_the_plan_allotment(container, student):
    set_profile(container, student, credits_remaining=0, credits_period_start=date(2020, 1, 1))
    receipt = container.credits.consume(user_id=student)
    assert receipt.credits_remaining == 9
    row = profile(container, student)
    assert row["credits_period_start"] == datetime.now(UTC).date().replace(day=1)


def test_a_failed_answer_is_refunded_once(container, student):
    receipt = container.credits.consume(user_id=student)
    assert container.credits.refund(user_id=student, usage_id=receipt.usage_id, reason="ai_error")
    row = profile(container, student)
    assert (row["credits_remaining"], row["daily_used"]) == (10, 0)
    assert not container.credits.refund(
        user_id=student, usage_id=receipt.usage_id, reason="ai_error"
    )
    assert profile(container, student)["credits_remaining"] == 10
    refund = usage(container, student)[-1]
    assert (refund["action_type"], refund["credits_used"], refund["credits_after"]) == (
        "refund",
        -1,
        10,
    )


def test_nobody_can_refund_someone_elses_spend(container, student, issue_token):
    receipt = container.credits.consume(user_id=student)
    other = jwt.decode(issue_token("ben@example.com"), options={"verify_signature": False})["sub"]
    with pytest.raises(AppError) as info:
        container.credits.refund(user_id=other, usage_id=receipt.usage_id, reason="x")
    assert info.value.code == "NOT_FOUND"


def test_a_transcription_is_metered_as_voice_and_charged_what_is_configured(container, student):
    details = {"model": "gpt-transcribe", "duration_ms": 2900}
    assert container.credits.meter_voice(user_id=student, credits=0, details=details) == 10
    assert container.credits.meter_voice(user_id=student, credits=2, details=details) == 8
    row = profile(container, student)
    assert (row["credits_remaining"], row["daily_used"]) == (8, 0)  # no question asked today
    set_profile(container, student, credits_remaining=1)
    assert container.credits.meter_voice(user_id=student, credits=2, details=details) == 0
    records = usage(container, student)
    assert [(r["action_type"], r["credits_used"], r["credits_before"], r["credits_after"])
            for r in records] == [
        ("voice", 0, 10, 10),
        ("voice", 2, 10, 8),
        ("voice", 1, 1, 0),  # never more than remains
    ]  # fmt: skip
    assert records[0]["details"]["duration_ms"] == 2900 and records[0]["details"]["day"]
