"""Redis state of answer generation: the one-call-per-question lock, the draft that students
follow while the answer is written, and the provider's circuit breaker.

- `ai_lock:{key}`: the generator's token, with a lease it renews while it works; a crashed
  generator's lock lapses by itself.
- `ai_draft:{key}` (hash of JSON values: status, answer_id, total_steps, subject, message,
  reason, tokens) and
  `ai_draft_steps:{key}` (list of prepared steps, in order), with an expiry: what every
  process's lessons read while the answer is being written.
- `ai_watchers:{key}` (set of the lessons following it) and `ai_abandoned:{key}` (set when the
  last of them stopped): a generation nobody waits for any more stops, and costs no more.
- `ai_reserved:{user_id}`: generations a student started and is not charged for yet (at most
  as many as their credits allow), so two tabs cannot set the model writing on one credit.
- `ai_breaker:failures` (a counter over a window) and `ai_breaker:open` (set while open).

`key` is the question's hash (a follow-up's: `follow_up_hash`): one generation per question at
a time, whatever the prompt version or model, which are stored with the answer it writes.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from app.repositories.base import redis_call

DRAFT_TTL_SECONDS = 3_600

# Release the lock only if it is still ours (its lease may have lapsed and another taken it).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# A step is appended only while the generator still holds the lock: a generator whose lease
# lapsed (it stalled) cannot write into a draft that another has started again.
_PUSH_STEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local n = redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
"""
# Take the lock and start a fresh draft in one step, so no asker ever sees a lock without its
# draft, or a new lock over an old draft. KEYS: lock, draft, steps, watchers, abandoned;
# ARGV: token, lease ms, status JSON, answer id JSON, ttl.
_START = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[2], 'status', ARGV[3], 'answer_id', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""
# Write draft fields only while the writer holds the lock: a generator that stalled past its
# lease never overwrites the draft of the one that took over. KEYS: lock, draft, steps;
# ARGV: token, ttl, then field/value pairs.
_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""
# Count a failure in a window; at the threshold the breaker opens for a cool-down.
_FAILURE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n >= tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
    redis.call('DEL', KEYS[1])
end
return n
"""


def lock_key(key: str) -> str:
    return f"ai_lock:{key}"


def draft_key(key: str) -> str:
    return f"ai_draft:{key}"


def draft_steps_key(key: str) -> str:
    return f"ai_draft_steps:{key}"


def watchers_key(key: str) -> str:
    return f"ai_watchers:{key}"


def abandoned_key(key: str) -> str:
    return f"ai_abandoned:{key}"


# The last lesson following a generation leaves: the generation is abandoned. KEYS: watchers,
# abandoned flag; ARGV: the watcher, ttl.
_LEAVE = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
    redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
    return 1
end
return 0
"""


def reserved_key(user_id: str) -> str:
    return f"ai_reserved:{user_id}"


# One more generation for a student who is not charged yet, if their spends allow it.
# KEYS: the student's count; ARGV: spends allowed, ttl.
_RESERVE = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end
return 1
"""
_UNRESERVE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""

BREAKER_FAILURES = "ai_breaker:failures"
BREAKER_OPEN = "ai_breaker:open"


class GenerationRepository:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._push = client.register_script(_PUSH_STEP)
        self._failure = client.register_script(_FAILURE)
        self._leave = client.register_script(_LEAVE)
        self._start = client.register_script(_START)
        self._write = client.register_script(_WRITE)
        self._reserve = client.register_script(_RESERVE)
        self._unreserve = client.register_script(_UNRESERVE)

    # -- the lock -------------------------------------------------------------------------
    @redis_call
    def start(self, key: str, token: str, *, answer_id: str, lease_seconds: float) -> bool:
        """Take the question's lock and start its draft; False when another holds the lock."""
        return bool(
            self._start(
                keys=[
                    lock_key(key),
                    draft_key(key),
                    draft_steps_key(key),
                    watchers_key(key),
                    abandoned_key(key),
                ],
                args=[
                    token,
                    int(lease_seconds * 1000),
                    json.dumps("generating"),
                    json.dumps(answer_id),
                    DRAFT_TTL_SECONDS,
                ],
            )
        )

    @redis_call
    def renew(self, key: str, token: str, *, lease_seconds: float) -> bool:
        return bool(self._renew(keys=[lock_key(key)], args=[token, int(lease_seconds * 1000)]))

    @redis_call
    def release(self, key: str, token: str) -> None:
        self._release(keys=[lock_key(key)], args=[token])

    @redis_call
    def is_locked(self, key: str) -> bool:
        return bool(self.redis.exists(lock_key(key)))

    # -- the draft ------------------------------------------------------------------------
    @redis_call
    def write_draft(self, key: str, token: str, **fields: Any) -> bool:
        """Set draft fields (JSON values) while holding the lock; False once it is lost."""
        values = [item for name, value in fields.items() for item in (name, json.dumps(value))]
        return bool(
            self._write(
                keys=[lock_key(key), draft_key(key), draft_steps_key(key)],
                args=[token, DRAFT_TTL_SECONDS, *values],
            )
        )

    @redis_call
    def push_step(
        self, key: str, token: str, step: dict[str, Any], *, lease_seconds: float
    ) -> int | None:
        """Append a finished step; None when the lock is no longer the generator's."""
        count = self._push(
            keys=[lock_key(key), draft_key(key), draft_steps_key(key)],
            args=[
                token,
                json.dumps(step, ensure_ascii=False),
                DRAFT_TTL_SECONDS,
                int(lease_seconds * 1000),
            ],
        )
        return None if int(count) < 0 else int(count)

    @redis_call
    def get_draft(self, key: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(draft_key(key))
        if not raw:
            return None
        return {str(name): json.loads(value) for name, value in raw.items()}

    @redis_call
    def draft_steps(self, key: str, start: int = 0) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.lrange(draft_steps_key(key), start, -1)]

    # -- who follows it ----------------------------------------------------------------------
    @redis_call
    def watch(self, key: str, watcher: str) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(watchers_key(key), watcher)
            pipe.expire(watchers_key(key), DRAFT_TTL_SECONDS)
            pipe.delete(abandoned_key(key))
            pipe.execute()

    @redis_call
    def unwatch(self, key: str, watcher: str) -> bool:
        """True when that was the last lesson following the generation."""
        return bool(self._leave(keys=[watchers_key(key), abandoned_key(key)], args=[watcher, 600]))

    @redis_call
    def abandoned(self, key: str) -> bool:
        return bool(self.redis.exists(abandoned_key(key)))

    # -- generations not charged yet ---------------------------------------------------------
    @redis_call
    def reserve(self, user_id: str, *, allowed: int, ttl_seconds: int) -> bool:
        return bool(self._reserve(keys=[reserved_key(user_id)], args=[allowed, ttl_seconds]))

    @redis_call
    def unreserve(self, user_id: str) -> None:
        self._unreserve(keys=[reserved_key(user_id)])

    # -- the breaker ----------------------------------------------------------------------
    @redis_call
    def breaker_open(self) -> bool:
        return bool(self.redis.exists(BREAKER_OPEN))

    @redis_call
    def record_failure(self, *, window_seconds: int, threshold: int, open_seconds: int) -> int:
        return int(
            self._failure(
                keys=[BREAKER_FAILURES, BREAKER_OPEN],
                args=[window_seconds, threshold, open_seconds],
            )
        )

    @redis_call
    def open_breaker(self, *, seconds: int) -> None:
        self.redis.set(BREAKER_OPEN, "1", ex=seconds)

    @redis_call
    def record_success(self) -> None:
        self.redis.delete(BREAKER_FAILURES)
