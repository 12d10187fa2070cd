import threading

import psycopg
import pytest

from app.container import MIGRATIONS_DIR
from app.services.migration_service import MigrationError
from tests.conftest import build_test_container, create_database, drop_database

MIGRATION_FILES = sorted(path.name for path in MIGRATIONS_DIR.glob("[0-9]*.sql"))
SEED_TABLES = {
    "profiles",
    "questions",
    "ai_answers",
    "interactions",
    "study_sessions",
    "user_progress",
    "credit_usage",
    "subscription_plans",
    "user_subscriptions",
    "canvas_library",
}


@pytest.fixture
def empty_database(pg_server_url):
    url = create_database(pg_server_url)
    yield url
    drop_database(pg_server_url, url)


def public_tables(url):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename, rowsecurity FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return dict(rows)


def test_upgrade_creates_the_seed_tables_with_row_level_security(empty_database, redis_url):
    container = build_test_container(database_url=empty_database, redis_url=redis_url)
    try:
        applied = container.migrations.upgrade()
    finally:
        container.close()
    assert applied == ["local/000_auth_shim.sql", *MIGRATION_FILES]
    assert MIGRATION_FILES[:3] == [
        "001_create_tables.sql",
        "002_add_indexes.sql",
        "003_seed_data.sql",
    ]
    tables = public_tables(empty_database)
    # The seed's ten tables, the ledger, and step_feedback ("no entendí" on one step).
    assert SEED_TABLES | {"schema_migrations", "step_feedback"} == set(tables)
    assert all(tables.values()), "RLS must be enabled on every table, the ledger included"


def test_upgrade_twice_is_a_no_op(container):
    assert container.migrations.upgrade() == []
    assert all(applied for _, applied in container.migrations.status())


def test_concurrent_starts_apply_each_migration_once(empty_database, redis_url):
    containers = [
        build_test_container(database_url=empty_database, redis_url=redis_url) for _ in range(3)
    ]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run(c):
        try:
            results.append(c.migrations.upgrade())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in containers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in containers:
        c.close()
    assert not errors
    assert sorted(len(r) for r in results) == [0, 0, len(MIGRATION_FILES) + 1]
    with psycopg.connect(empty_database) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert count == (len(MIGRATION_FILES) + 1,)


def test_a_start_waits_for_a_long_migration_elsewhere_past_the_statement_timeout(
    empty_database, redis_url
):
    from app.repositories.migration_repo import _MIGRATION_LOCK_KEY

    other = psycopg.connect(empty_database, autocommit=True)
    other.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
    container = build_test_container(
        database_url=empty_database, redis_url=redis_url, database_statement_timeout_ms=200
    )
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(container.migrations.upgrade()))
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "it must wait for the lock"
    other.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
    other.close()
    thread.join(30)
    container.close()
    assert results and len(results[0]) == len(MIGRATION_FILES) + 1


def test_on_supabase_the_local_auth_shim_is_not_applied(empty_database, redis_url):
    # A Supabase database already has auth.users and the API roles.
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute(
            """
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
                CREATE ROLE authenticated NOLOGIN; END IF;
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
                CREATE ROLE anon NOLOGIN; END IF;
            END $$;
            CREATE SCHEMA auth;
            CREATE TABLE auth.users (id uuid PRIMARY KEY, email text,
                                     raw_user_meta_data jsonb DEFAULT '{}');
            CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
                AS $f$ SELECT NULLIF(current_setting('request.jwt.claim.sub', true), '')::uuid $f$;
            """
        )
    container = build_test_container(
        database_url=empty_database, redis_url=redis_url, local_auth=False
    )
    try:
        applied = container.migrations.upgrade()
    finally:
        container.close()
    assert "local/000_auth_shim.sql" not in applied
    assert applied == MIGRATION_FILES
    with psycopg.connect(empty_database) as conn:
        # The profile trigger is attached to Supabase's own auth.users.
        conn.execute(
            "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES "
            "(gen_random_uuid(), 'lu@example.com', '{\"full_name\": \"Lucía\"}')"
        )
        assert conn.execute("SELECT full_name FROM profiles").fetchone() == ("Lucía",)


def test_without_auth_schema_and_local_auth_off_the_error_says_what_to_do(
    empty_database, redis_url
):
    container = build_test_container(
        database_url=empty_database, redis_url=redis_url, local_auth=False
    )
    try:
        with pytest.raises(MigrationError, match=r"auth\.users does not exist"):
            container.migrations.upgrade()
    finally:
        container.close()
    assert public_tables(empty_database) == {"schema_migrations": True}


def test_a_failing_migration_leaves_nothing_half_applied(empty_database, redis_url, tmp_path):
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (id int);\nSELECT 1/0;")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "000_auth_shim.sql").write_text("CREATE SCHEMA auth;")
    from app.container import build_container
    from tests.conftest import make_settings

    container = build_container(
        make_settings(database_url=empty_database, redis_url=redis_url), migrations_dir=tmp_path
    )
    try:
        with pytest.raises(psycopg.errors.DivisionByZero):
            container.migrations.upgrade()
        status = dict(container.migrations.status())
    finally:
        container.close()
    assert status == {"001_good.sql": True, "002_bad.sql": False}
    assert "half" not in public_tables(empty_database)
