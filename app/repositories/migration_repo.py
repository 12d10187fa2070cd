"""SQL for the migration runner: the `schema_migrations` ledger and the run lock."""

from __future__ import annotations

from app.repositories.base import DbConnection

# Any constant works; it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK_KEY = 727_447_001


class MigrationRepository:
    def ensure_ledger(self, conn: DbConnection) -> None:
        # RLS without policies: PostgREST's API roles can neither read nor rewrite the ledger.
        conn.execute(
            """
            CREATE TABLE IF NOT EXISTS public.schema_migrations (
                name TEXT PRIMARY KEY,
                checksum TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
            )
            """
        )
        conn.execute("ALTER TABLE public.schema_migrations ENABLE ROW LEVEL SECURITY")

    def applied(self, conn: DbConnection) -> dict[str, str]:
        rows = conn.execute("SELECT name, checksum FROM public.schema_migrations").fetchall()
        return {row["name"]: row["checksum"] for row in rows}

    def record(self, conn: DbConnection, name: str, checksum: str) -> None:
        conn.execute(
            "INSERT INTO public.schema_migrations (name, checksum) VALUES (%s, %s)",
            (name, checksum),
        )

    def lock(self, conn: DbConnection) -> None:
        """Serialize migrations across processes starting at once (session-level lock). Waiting
        for another process's long migration must not hit the statement timeout."""
        conn.execute("SET statement_timeout = 0")
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def unlock(self, conn: DbConnection) -> None:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))
        conn.execute("RESET statement_timeout")

    def auth_users_exists(self, conn: DbConnection) -> bool:
        row = conn.execute("SELECT to_regclass('auth.users') IS NOT NULL AS present").fetchone()
        return bool(row and row["present"])

    def run_script(self, conn: DbConnection, sql: str) -> None:
        """Run a whole SQL file (several statements) inside the caller's transaction."""
        conn.execute("SET LOCAL statement_timeout = 0")
        # No parameters and no preparation: the simple query protocol accepts many statements.
        conn.execute(sql.encode("utf-8"), prepare=False)
