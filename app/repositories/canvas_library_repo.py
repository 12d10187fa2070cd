"""SQL for `canvas_library`: the named drawings lessons use, and how often they are used."""

from __future__ import annotations

from typing import Any

from app.repositories.base import DbConnection


class CanvasLibraryRepository:
    def list_all(self, conn: DbConnection) -> list[dict[str, Any]]:
        return conn.execute(
            "SELECT name, category, commands, tags, usage_count FROM canvas_library ORDER BY name"
        ).fetchall()

    def count_uses(self, conn: DbConnection, names: list[str]) -> None:
        """One more lesson drew with each of these templates."""
        conn.execute(
            "UPDATE canvas_library SET usage_count = usage_count + 1 WHERE name = ANY(%s)",
            (names,),
        )
