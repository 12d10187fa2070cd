"""Redis keys of the charges taken while PostgreSQL was unavailable.

A lesson served from the answer cache during a PostgreSQL outage is charged later: its
interaction and spend wait here, one JSON record per interaction in the `pending_charges`
hash, until a process writes them to PostgreSQL (`QuestionService.flush_pending`). Each student
gets a few such lessons per day (`pending_charges:allowance:{user_id}`), so an outage never
becomes an open tap.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from app.repositories.base import redis_call

PENDING_CHARGES_KEY = "pending_charges"
ALLOWANCE_TTL_SECONDS = 24 * 3600


def allowance_key(user_id: str) -> str:
    return f"pending_charges:allowance:{user_id}"


# KEYS: pending hash, allowance counter; ARGV: interaction id, record, allowance, ttl.
# Returns 1 when kept, 0 when the student has used their allowance.
_ADD = """
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
if used > tonumber(ARGV[3]) then
    redis.call('DECR', KEYS[2])
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

# The lesson was seen to its end: say so in its record, if it is still waiting.
# KEYS: pending hash; ARGV: interaction id, answer id (JSON). Returns 1 if it was waiting.
_COMPLETE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local record = cjson.decode(raw)
record['completed'] = true
local answer_id = cjson.decode(ARGV[2])
if answer_id ~= cjson.null then record['answer_id'] = answer_id end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
"""

# Forget a record written to PostgreSQL, unless it changed meanwhile (then it is written again,
# which is idempotent). KEYS: pending hash; ARGV: interaction id, the record as it was read.
_REMOVE_IF_UNCHANGED = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


class PendingChargeRepository:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._add = client.register_script(_ADD)
        self._complete = client.register_script(_COMPLETE)
        self._remove_if_unchanged = client.register_script(_REMOVE_IF_UNCHANGED)

    @redis_call
    def add(self, record: dict[str, Any], *, allowance: int) -> bool:
        """Keep a charge to write later; False when the student has no allowance left."""
        return bool(
            self._add(
                keys=[PENDING_CHARGES_KEY, allowance_key(record["user_id"])],
                args=[
                    record["interaction_id"],
                    json.dumps(record, ensure_ascii=False),
                    allowance,
                    ALLOWANCE_TTL_SECONDS,
                ],
            )
        )

    @redis_call
    def mark_completed(self, interaction_id: str, answer_id: str | None) -> bool:
        """True if the interaction is waiting here (and now says it was completed)."""
        return bool(
            self._complete(keys=[PENDING_CHARGES_KEY], args=[interaction_id, json.dumps(answer_id)])
        )

    @redis_call
    def count(self) -> int:
        return int(self.redis.hlen(PENDING_CHARGES_KEY))

    @redis_call
    def all(self) -> dict[str, str]:
        """Every waiting record, raw, by interaction id."""
        return cast(dict[str, str], self.redis.hgetall(PENDING_CHARGES_KEY))

    @redis_call
    def remove_if_unchanged(self, interaction_id: str, raw: str) -> bool:
        removed = self._remove_if_unchanged(keys=[PENDING_CHARGES_KEY], args=[interaction_id, raw])
        return bool(removed)

    @redis_call
    def remove(self, interaction_id: str) -> bool:
        """Forget a charge whose lesson could not be given after all (nothing to charge)."""
        return bool(self.redis.hdel(PENDING_CHARGES_KEY, interaction_id))
