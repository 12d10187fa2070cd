"""Redis state of the seed's section 5: sessions, answer cache, voice state, rate-limit counters.

Sessions and voice state are Redis hashes whose field values are JSON, so one field (say,
`pause_position`) can be written without a read-modify-write race against another writer.
Every write renews the key's TTL in the same atomic step: a key never lives without expiry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import redis

from app.models.session import SESSION_TTL_SECONDS, SessionState
from app.models.voice import VOICE_STATE_TTL_SECONDS, VoiceState
from app.repositories.base import redis_call

ANSWER_CACHE_TTL_SECONDS = 86_400

# Update fields of an existing hash and renew its TTL; a missing (expired) key stays missing
# instead of coming back as a partial record. KEYS[1]; ARGV[1] = ttl, then field/value pairs.
_UPDATE_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
for i = 2, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

# Count one event in a fixed window. The counter and its expiry are set in one script, so a
# crash can never leave a counter without expiry; a key found without TTL is healed.
# Returns {count, seconds until the window resets}.
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if count == 1 or ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


def session_key(session_id: str) -> str:
    return f"session:{session_id}"


# Live connections of one client address, a sorted set of sid -> last heartbeat (Redis time).
# Entries older than the staleness window belong to a process that died and are dropped.
_CLAIM_CONNECTION = """
local now = tonumber(redis.call('TIME')[1])
local stale = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale)
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
    if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], stale)
return 1
"""

_REFRESH_CONNECTIONS = """
local now = tonumber(redis.call('TIME')[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def connections_key(client_ip: str) -> str:
    return f"connections:{client_ip}"


def user_sessions_key(user_id: str) -> str:
    return f"user_sessions:{user_id}"


def answer_cache_key(question_hash: str) -> str:
    return f"answer_cache:{question_hash}"


def voice_state_key(session_id: str) -> str:
    return f"voice_state:{session_id}"


def question_rate_key(user_id: str) -> str:
    return f"rate_limit:{user_id}:questions"


def lesson_seq_key(session_id: str) -> str:
    return f"lesson_seq:{session_id}"


def lesson_events_key(session_id: str) -> str:
    return f"lesson_events:{session_id}"


LESSON_EVENTS_KEPT = 2_000

# Number a lesson event and keep it for replay, atomically: the stream entry's id is the seq,
# so the events after a given seq are one XRANGE. Session fields given after the payload (the
# lesson's position) are written in the same round trip, if the session still exists.
# KEYS: seq counter, stream, session; ARGV: ttl, max entries, event, JSON payload, field/values.
_RECORD_LESSON_EVENT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'event', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[1])
if #ARGV > 4 and redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('HSET', KEYS[3], unpack(ARGV, 5))
    redis.call('EXPIRE', KEYS[3], ARGV[1])
end
return seq
"""


def auth_session_key(session_id: str) -> str:
    return f"auth_session:{session_id}"


def _encode(fields: dict[str, Any]) -> dict[str | bytes, str | bytes]:
    return {
        name: json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        for name, value in fields.items()
    }


def _decode(raw: dict) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in raw.items()}


class SessionRepository:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._update_existing = client.register_script(_UPDATE_EXISTING)
        self._count_in_window = client.register_script(_COUNT_IN_WINDOW)
        self._claim_connection = client.register_script(_CLAIM_CONNECTION)
        self._refresh_connections = client.register_script(_REFRESH_CONNECTIONS)
        self._record_lesson_event = client.register_script(_RECORD_LESSON_EVENT)

    # -- sessions -------------------------------------------------------------------------
    @redis_call
    def save_session(self, session_id: str, state: SessionState) -> None:
        key = session_key(session_id)
        owner = user_sessions_key(state.user_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=cast(Any, _encode(state.model_dump())))
            pipe.expire(key, SESSION_TTL_SECONDS)
            # The user's live sessions, so a logout can end them all; it outlives none of them.
            pipe.sadd(owner, session_id)
            pipe.expire(owner, SESSION_TTL_SECONDS)
            pipe.execute()

    @redis_call
    def end_user_sessions(self, user_id: str) -> list[SessionState]:
        """Delete every live session of a user; returns them as they were."""
        owner = user_sessions_key(user_id)
        session_ids = sorted(cast(set, self.redis.smembers(owner)))
        ended = [state for sid in session_ids if (state := self.get_session(sid)) is not None]
        with self.redis.pipeline(transaction=True) as pipe:
            for session_id in session_ids:
                pipe.delete(session_key(session_id))
            pipe.delete(owner)
            pipe.execute()
        return ended

    @redis_call
    def get_session(self, session_id: str) -> SessionState | None:
        raw = cast(dict, self.redis.hgetall(session_key(session_id)))
        return SessionState.model_validate(_decode(raw)) if raw else None

    @redis_call
    def update_session(self, session_id: str, fields: dict[str, Any]) -> bool:
        """Write some fields and renew the TTL; False when the session has expired."""
        if not fields:
            return bool(self.redis.expire(session_key(session_id), SESSION_TTL_SECONDS))
        args: list[Any] = [SESSION_TTL_SECONDS]
        for name, value in _encode(fields).items():
            args.extend((name, value))
        # The lesson's seq counter and replay stream live exactly as long as the session.
        keys = [session_key(session_id), lesson_seq_key(session_id), lesson_events_key(session_id)]
        return bool(self._update_existing(keys=keys, args=args))

    @redis_call
    def record_lesson_event(
        self,
        session_id: str,
        event: str,
        payload: dict[str, Any],
        session_fields: dict[str, Any] | None = None,
    ) -> int:
        """Give a lesson event its sequence number (shared by all processes) and keep it, with
        that number, for a client that reconnects after missing some; optionally update session
        fields in the same round trip. Returns the seq."""
        args: list[Any] = [
            SESSION_TTL_SECONDS,
            LESSON_EVENTS_KEPT,
            event,
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        ]
        for name, value in _encode(session_fields or {}).items():
            args.extend((name, value))
        keys = [lesson_seq_key(session_id), lesson_events_key(session_id), session_key(session_id)]
        return int(self._record_lesson_event(keys=keys, args=args))

    @redis_call
    def lesson_events_after(self, session_id: str, seq: int) -> list[tuple[str, dict[str, Any]]]:
        """The kept events with a sequence number above `seq`, in order, as (event, payload)."""
        entries = self.redis.xrange(lesson_events_key(session_id), min=f"{seq + 1}-0", max="+")
        events = []
        for entry_id, fields in cast(list, entries):
            payload = json.loads(fields["data"])
            payload["seq"] = int(str(entry_id).split("-")[0])
            events.append((fields["event"], payload))
        return events

    # -- answer cache ---------------------------------------------------------------------
    @redis_call
    def cache_answer(
        self,
        question_hash: str,
        steps: list[dict],
        total_duration: int,
        *,
        answer_id: str | None = None,
        question: str | None = None,
    ) -> None:
        """The seed's fields (steps, total_duration, cached_at) plus the row's id and question,
        so a cache hit needs no database read."""
        value: dict[str, Any] = {
            "steps": steps,
            "total_duration": total_duration,
            "cached_at": datetime.now(UTC).isoformat(),
        }
        if answer_id:
            value["answer_id"] = answer_id
        if question:
            value["question"] = question
        self.redis.set(
            answer_cache_key(question_hash),
            json.dumps(value, ensure_ascii=False, separators=(",", ":")),
            ex=ANSWER_CACHE_TTL_SECONDS,
        )

    @redis_call
    def get_cached_answer(self, question_hash: str) -> dict[str, Any] | None:
        raw = self.redis.get(answer_cache_key(question_hash))
        return json.loads(raw) if raw else None

    @redis_call
    def evict_answer(self, question_hash: str) -> None:
        self.redis.delete(answer_cache_key(question_hash))

    # -- voice state ----------------------------------------------------------------------
    @redis_call
    def save_voice_state(self, session_id: str, state: VoiceState) -> None:
        key = voice_state_key(session_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=cast(Any, _encode(state.model_dump())))
            pipe.expire(key, VOICE_STATE_TTL_SECONDS)
            pipe.execute()

    @redis_call
    def get_voice_state(self, session_id: str) -> VoiceState | None:
        raw = cast(dict, self.redis.hgetall(voice_state_key(session_id)))
        return VoiceState.model_validate(_decode(raw)) if raw else None

    @redis_call
    def delete_voice_state(self, session_id: str) -> None:
        self.redis.delete(voice_state_key(session_id))

    # -- login sessions still alive (a short cache of auth.sessions) -------------------------
    @redis_call
    def get_auth_session_active(self, session_id: str) -> bool | None:
        value = self.redis.get(auth_session_key(session_id))
        return None if value is None else value == "1"

    @redis_call
    def set_auth_session_active(self, session_id: str, active: bool, ttl_seconds: int) -> None:
        self.redis.set(auth_session_key(session_id), "1" if active else "0", ex=ttl_seconds)

    @redis_call
    def forget_auth_session(self, session_id: str) -> None:
        self.redis.delete(auth_session_key(session_id))

    # -- connections per client address ---------------------------------------------------
    @redis_call
    def claim_connection(self, client_ip: str, sid: str, *, limit: int, stale_after: int) -> bool:
        """Count a connection from this address; False when it already has `limit` live ones."""
        return bool(
            self._claim_connection(
                keys=[connections_key(client_ip)], args=[stale_after, limit, sid]
            )
        )

    @redis_call
    def refresh_connections(self, client_ip: str, sids: list[str], *, stale_after: int) -> None:
        self._refresh_connections(keys=[connections_key(client_ip)], args=[stale_after, *sids])

    @redis_call
    def release_connection(self, client_ip: str, sid: str) -> None:
        self.redis.zrem(connections_key(client_ip), sid)

    # -- rate limiting --------------------------------------------------------------------
    @redis_call
    def count_question(self, user_id: str, window_seconds: int) -> tuple[int, int]:
        """Count one question in the user's current window: (count so far, seconds left)."""
        count, ttl = self._count_in_window(keys=[question_rate_key(user_id)], args=[window_seconds])
        return int(count), int(ttl)
