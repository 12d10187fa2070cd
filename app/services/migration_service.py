"""Apply the SQL files under `migrations/` in order, each in its own transaction, once.

Locally (no Supabase), `migrations/local/000_auth_shim.sql` first provides the `auth` schema and
roles that Supabase has. On Supabase `auth.users` exists and the shim is never applied.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.errors import AppError
from app.repositories.base import Database
from app.repositories.migration_repo import MigrationRepository

log = logging.getLogger(__name__)

AUTH_SHIM = "local/000_auth_shim.sql"
# The migrations that hold data rather than schema; each is idempotent.
SEED_FILES = ("003_seed_data.sql", "007_canvas_library.sql")


class MigrationError(AppError):
    code = "INTERNAL_ERROR"


@dataclass(frozen=True)
class Migration:
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


class MigrationService:
    def __init__(
        self,
        *,
        db: Database,
        repo: MigrationRepository,
        migrations_dir: Path,
        local_auth: bool,
    ):
        self.db = db
        self.repo = repo
        self.migrations_dir = migrations_dir
        self.local_auth = local_auth

    def files(self) -> list[Migration]:
        return [
            Migration(path.name, path) for path in sorted(self.migrations_dir.glob("[0-9]*.sql"))
        ]

    def status(self) -> list[tuple[str, bool]]:
        with self.db.connection() as conn:
            self.repo.ensure_ledger(conn)
            applied = self.repo.applied(conn)
        return [(m.name, m.name in applied) for m in self.files()]

    def upgrade(self, progress: Callable[[str], None] = log.info) -> list[str]:
        """Apply every pending migration; return the names applied (empty when up to date)."""
        done: list[str] = []
        with self.db.connection() as conn:
            self.repo.lock(conn)
            try:
                self.repo.ensure_ledger(conn)
                applied = self.repo.applied(conn)
                for migration in self._plan(conn, applied):
                    progress(f"applying {migration.name}")
                    with conn.transaction():
                        self.repo.run_script(conn, migration.sql)
                        self.repo.record(conn, migration.name, migration.checksum)
                    done.append(migration.name)
                for migration in self.files():
                    recorded = applied.get(migration.name)
                    if recorded and recorded != migration.checksum:
                        log.warning(
                            "%s changed after it was applied; write a new migration instead",
                            migration.name,
                        )
            finally:
                self.repo.unlock(conn)
        return done

    def seed(self) -> None:
        """Apply the seed data again (idempotent): plans, sample questions, canvas library."""
        with self.db.transaction() as conn:
            for name in SEED_FILES:
                path = self.migrations_dir / name
                self.repo.run_script(conn, path.read_text(encoding="utf-8"))

    def _plan(self, conn, applied: dict[str, str]) -> list[Migration]:
        plan: list[Migration] = []
        if AUTH_SHIM not in applied and not self.repo.auth_users_exists(conn):
            if not self.local_auth:
                raise MigrationError(
                    "auth.users does not exist: point DATABASE_URL at a Supabase database, "
                    "or set LOCAL_AUTH=true to create the local auth schema"
                )
            plan.append(Migration(AUTH_SHIM, self.migrations_dir / AUTH_SHIM))
        plan.extend(m for m in self.files() if m.name not in applied)
        return plan
