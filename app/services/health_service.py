"""Liveness and readiness: ready only when PostgreSQL and Redis both answer."""

from __future__ import annotations

import redis

from app.repositories.base import Database, ping_redis


class HealthService:
    def __init__(self, *, db: Database, redis_client: redis.Redis):
        self.db = db
        self.redis = redis_client

    def readiness(self) -> dict[str, bool]:
        return {"postgres": self.db.ping(), "redis": ping_redis(self.redis)}
