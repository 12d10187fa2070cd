"""What the schema itself guarantees: the profile trigger, updated_at, CHECK constraints and the
Row Level Security policies that protect the tables PostgREST exposes with the anon key."""

import json
import uuid

import psycopg
import pytest


def create_user(conn, email, **metadata):
    user_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES (%s, %s, %s)",
        (user_id, email, json.dumps(metadata)),
    )
    return user_id


def act_as(conn, role, user_id=None):
    """What PostgREST does for a request: switch role and expose the JWT claims."""
    claims = {"role": role}
    if user_id:
        claims["sub"] = user_id
    conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
    conn.execute(f"SET LOCAL ROLE {role}")


def test_new_auth_user_gets_a_profile_with_free_plan_defaults(conn):
    user_id = create_user(
        conn, "ana@example.com", full_name="Ana Pérez", avatar_url="https://img/ana.png"
    )
    profile = conn.execute("SELECT * FROM profiles WHERE id = %s", (user_id,)).fetchone()
    assert profile["email"] == "ana@example.com"
    assert profile["full_name"] == "Ana Pérez"
    assert profile["avatar_url"] == "https://img/ana.png"
    assert profile["plan_type"] == "free"
    assert (profile["credits_remaining"], profile["daily_limit"], profile["daily_used"]) == (
        10,
        5,
        0,
    )


def test_google_picture_is_used_as_avatar(conn):
    user_id = create_user(conn, "g@example.com", picture="https://lh3/photo.jpg")
    row = conn.execute("SELECT avatar_url FROM profiles WHERE id = %s", (user_id,)).fetchone()
    assert row["avatar_url"] == "https://lh3/photo.jpg"


def test_an_address_given_up_by_one_student_can_be_used_by_another(conn):
    ana = create_user(conn, "ana@example.com")
    conn.execute("UPDATE auth.users SET email = 'ana.nueva@example.com' WHERE id = %s", (ana,))
    row = conn.execute("SELECT email FROM profiles WHERE id = %s", (ana,)).fetchone()
    assert row["email"] == "ana.nueva@example.com"
    ben = create_user(conn, "ana@example.com")
    row = conn.execute("SELECT email FROM profiles WHERE id = %s", (ben,)).fetchone()
    assert row["email"] == "ana@example.com"


def test_an_sso_account_sharing_an_address_still_gets_a_profile(conn):
    ana = create_user(conn, "ana@example.com")
    sso = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO auth.users (id, email, is_sso_user) VALUES (%s, 'ana@example.com', TRUE)",
        (sso,),
    )
    rows = conn.execute("SELECT id, email FROM profiles ORDER BY email NULLS LAST").fetchall()
    assert [(str(r["id"]), r["email"]) for r in rows] == [(ana, "ana@example.com"), (sso, None)]


def test_updated_at_moves_on_update(conn):
    user_id = create_user(conn, "t@example.com")
    conn.execute(
        "UPDATE profiles SET updated_at = now() - interval '1 day' WHERE id = %s", (user_id,)
    )
    conn.execute("UPDATE profiles SET full_name = 'Tomás' WHERE id = %s", (user_id,))
    row = conn.execute(
        "SELECT updated_at > now() - interval '1 minute' AS fresh FROM profiles WHERE id = %s",
        (user_id,),
    ).fetchone()
    assert row["fresh"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE profiles SET plan_type = 'gold'",
        "UPDATE profiles SET credits_remaining = -1",
        "INSERT INTO interactions (user_id, question_text, rating) SELECT id, 'q', 6 FROM profiles",
        "INSERT INTO interactions (user_id, question_text, question_type) "
        "SELECT id, 'q', 'telepathy' FROM profiles",
        "UPDATE questions SET difficulty = 'extreme'",
        "UPDATE questions SET exam_probability = 1.5",
        "UPDATE questions SET correct_answer = 'z'",
        "INSERT INTO user_subscriptions (user_id, status) SELECT id, 'paused' FROM profiles",
        "INSERT INTO credit_usage (user_id, action_type, credits_used, credits_before, "
        "credits_after) SELECT id, 'ai_question', 1, 5, 3 FROM profiles",
        "INSERT INTO ai_answers (question_hash, question_text, normalized_question, answer_steps)"
        " VALUES ('not-a-hash', 'q', 'q', '[]')",
    ],
)
def test_check_constraints_refuse_impossible_rows(conn, statement):
    create_user(conn, "c@example.com")
    with pytest.raises(psycopg.errors.IntegrityError), conn.transaction():
        conn.execute(statement)


def test_students_read_only_their_own_rows(conn):
    ana = create_user(conn, "ana@example.com")
    ben = create_user(conn, "ben@example.com")
    for user_id in (ana, ben):
        conn.execute(
            "INSERT INTO interactions (user_id, question_text) VALUES (%s, 'pregunta')", (user_id,)
        )
        conn.execute(
            "INSERT INTO credit_usage (user_id, action_type, credits_used, credits_before, "
            "credits_after) VALUES (%s, 'ai_question', 1, 10, 9)",
            (user_id,),
        )
    act_as(conn, "authenticated", ana)
    assert [r["id"] for r in conn.execute("SELECT id FROM profiles").fetchall()] == [uuid.UUID(ana)]
    owners = {r["user_id"] for r in conn.execute("SELECT user_id FROM interactions").fetchall()}
    assert owners == {uuid.UUID(ana)}
    owners = {r["user_id"] for r in conn.execute("SELECT user_id FROM credit_usage").fetchall()}
    assert owners == {uuid.UUID(ana)}


def test_exam_answers_and_paid_lessons_are_not_readable_through_the_api(conn):
    """Correct answers and stored lessons are served by the backend, not by PostgREST."""
    ana = create_user(conn, "ana@example.com")
    conn.execute(
        "INSERT INTO ai_answers (question_hash, question_text, normalized_question, answer_steps)"
        " VALUES (repeat('a', 64), 'q', 'q', '[]')"
    )
    assert conn.execute("SELECT count(*) AS n FROM questions").fetchone()["n"] >= 5
    act_as(conn, "authenticated", ana)
    for table in ("questions", "ai_answers", "canvas_library"):
        assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0


def test_students_cannot_give_themselves_credits(conn):
    ana = create_user(conn, "ana@example.com")
    act_as(conn, "authenticated", ana)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("UPDATE profiles SET credits_remaining = 9999 WHERE id = %s", (ana,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
        conn.execute("UPDATE profiles SET plan_type = 'pro' WHERE id = %s", (ana,))
    # Presentation fields are theirs to edit.
    conn.execute("UPDATE profiles SET full_name = 'Ana María' WHERE id = %s", (ana,))
    row = conn.execute("SELECT full_name, credits_remaining FROM profiles").fetchone()
    assert row == {"full_name": "Ana María", "credits_remaining": 10}


def test_students_cannot_edit_someone_elses_profile(conn):
    ana = create_user(conn, "ana@example.com")
    ben = create_user(conn, "ben@example.com")
    act_as(conn, "authenticated", ana)
    conn.execute("UPDATE profiles SET full_name = 'hacked' WHERE id = %s", (ben,))
    conn.execute("RESET ROLE")
    row = conn.execute("SELECT full_name FROM profiles WHERE id = %s", (ben,)).fetchone()
    assert row["full_name"] is None


def test_students_cannot_write_their_history_or_credit_records(conn):
    ana = create_user(conn, "ana@example.com")
    act_as(conn, "authenticated", ana)
    for statement in (
        "INSERT INTO interactions (user_id, question_text) VALUES (%s, 'x')",
        "INSERT INTO credit_usage (user_id, action_type, credits_used, credits_before, "
        "credits_after) VALUES (%s, 'grant', -100, 0, 100)",
        "INSERT INTO user_subscriptions (user_id) VALUES (%s)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(statement, (ana,))


def test_anonymous_visitors_see_plans_but_nothing_else(conn):
    ana = create_user(conn, "ana@example.com")
    conn.execute("INSERT INTO interactions (user_id, question_text) VALUES (%s, 'q')", (ana,))
    conn.execute(
        "INSERT INTO credit_usage (user_id, action_type, credits_used, credits_before, "
        "credits_after) VALUES (%s, 'ai_question', 1, 10, 9)",
        (ana,),
    )
    conn.execute(
        "INSERT INTO ai_answers (question_hash, question_text, normalized_question, answer_steps)"
        " VALUES (repeat('b', 64), 'q', 'q', '[]')"
    )
    for table in ("profiles", "questions", "ai_answers", "interactions", "credit_usage"):
        assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] > 0
    act_as(conn, "anon")
    plans = [r["name"] for r in conn.execute("SELECT name FROM subscription_plans").fetchall()]
    assert sorted(plans) == ["basic", "free", "premium", "pro"]
    for table in ("profiles", "questions", "ai_answers", "interactions", "credit_usage"):
        assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0
