"""Redis state of the seed's section 5: sessions, answer cache, voice state, rate-limit counters.

Sessions and voice state are Redis hashes whose field values are JSON, so one field (say,
`pause_position`) can be written without a read-modify-write race against another writer.
Every write renews the key's TTL in the same atomic step: a key never lives without expiry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import redis

from app.models.session import SESSION_TTL_SECONDS, SessionState
from app.models.voice import VOICE_STATE_TTL_SECONDS, VoiceState
from app.repositories.base import redis_call
from app.utils.compact_json import dumps as compact_json

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


def voice_audio_key(session_id: str) -> str:
    """The pieces of a recording (`voice_chunk`), kept as long as its voice state."""
    return f"voice_audio:{session_id}"


# The recordings open now (sorted set: session id by expiry time) and each student's one.
OPEN_RECORDINGS_KEY = "voice_recordings"


def user_recording_key(user_id: str) -> str:
    return f"voice_recording:{user_id}"


# Open a recording. KEYS: open recordings, the student's recording, its voice state, its audio;
# ARGV: session id, ttl, max open, then the state's field/value pairs. The student's recording
# in another session is dropped (its state and audio keys are named as voice_state_key and
# voice_audio_key name them). Returns {1 or 0, the dropped session or false}.
_START_RECORDING = """
local t = redis.call('TIME')
local now = t[1] + t[2] / 1e6
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local previous = redis.call('GET', KEYS[2])
if previous and previous ~= ARGV[1] then
    redis.call('DEL', 'voice_state:' .. previous, 'voice_audio:' .. previous)
    redis.call('ZREM', KEYS[1], previous)
else
    previous = false
end
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    return {0, previous}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl)
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[3], ttl)
return {1, previous}
"""


def question_rate_key(user_id: str) -> str:
    return f"rate_limit:{user_id}:questions"


def transcription_rate_key(user_id: str) -> str:
    return f"rate_limit:{user_id}:transcriptions"


def lesson_seq_key(session_id: str) -> str:
    return f"lesson_seq:{session_id}"


def lesson_events_key(session_id: str) -> str:
    return f"lesson_events:{session_id}"


def lesson_answers_key(session_id: str) -> str:
    """The documents of the session's lessons (the current one and, during an interruption,
    the one to go back to), by explanation id."""
    return f"lesson_answers:{session_id}"


LESSON_EVENTS_KEPT = 2_000

# Lesson events are numbered and kept for replay, atomically: the stream entry's id is the seq,
# so the events after a given seq are one XRANGE. Each record may be fenced: it is recorded only
# while the session's fields still hold the expected values (the lesson's run id), so a lesson
# that has been paused, stopped or taken over elsewhere can neither send nor save anything more.
# Session fields given after the events (the lesson's position) are written in the same step.
# One call records many lessons (the chunks due in the same tick across a process's lessons).
# KEYS: per record, its seq counter, stream, session and lesson document.
# ARGV: ttl, max entries, then per record: its number of arguments, renew (1 or 0), n expected,
#       expected field/value pairs, n events, event/data pairs, field/value pairs to write.
# With renew, the keys' TTLs and a fenced lesson's lease (`lesson_beat`) are renewed; a streaming
# lesson asks for it about once a second rather than with each of its ten chunks a second.
# Returns per record {first seq, the session's current connection id}, false when fenced out,
# or {'error', message} when that record failed (it may have been kept in part).
_RECORD_LESSON_EVENTS = """
local ttl, kept = ARGV[1], ARGV[2]
local function record(seq_key, stream, session, document, i, last)
    local renew = ARGV[i] == '1'
    local n_expect = tonumber(ARGV[i + 1]); i = i + 2
    local exists = redis.call('EXISTS', session) == 1
    if n_expect > 0 and not exists then return false end
    for k = 1, n_expect do
        if (redis.call('HGET', session, ARGV[i]) or 'null') ~= ARGV[i + 1] then return false end
        i = i + 2
    end
    local n_events = tonumber(ARGV[i]); i = i + 1
    local first = tonumber(redis.call('INCRBY', seq_key, n_events)) - n_events + 1
    for k = 0, n_events - 1 do
        redis.call('XADD', stream, 'MAXLEN', '~', kept, (first + k) .. '-0',
                   'event', ARGV[i], 'data', ARGV[i + 1])
        i = i + 2
    end
    if renew then
        redis.call('EXPIRE', seq_key, ttl)
        if n_events > 0 then redis.call('EXPIRE', stream, ttl) end
        redis.call('EXPIRE', document, ttl)
    end
    if exists then
        if renew and n_expect > 0 then  -- the lesson is alive: its lease is renewed
            local t = redis.call('TIME')
            redis.call('HSET', session, 'lesson_beat', string.format('%.3f', t[1] + t[2] / 1e6))
        end
        if i <= last then redis.call('HSET', session, unpack(ARGV, i, last)) end
        if renew then redis.call('EXPIRE', session, ttl) end
    end
    return {first, redis.call('HGET', session, 'connection_id') or 'null'}
end
local replies = {}
local i = 3
for r = 0, #KEYS / 4 - 1 do
    local last = i + tonumber(ARGV[i])
    local ok, reply = pcall(record, KEYS[r * 4 + 1], KEYS[r * 4 + 2], KEYS[r * 4 + 3],
                            KEYS[r * 4 + 4], i + 1, last)
    if not ok then  -- this record failed (e.g. out of memory): the others go on
        reply = {'error', type(reply) == 'table' and reply.err or tostring(reply)}
    end
    replies[r + 1] = reply
    i = last + 1
end
return replies
"""

# A paused lesson, or one whose streaming process stopped renewing its lease, gets a new run.
# KEYS: session, lesson document; ARGV: ttl, new run id (JSON), lease seconds.
# Returns the session's fields as they are after the claim, or nil when there is nothing to take.
_CLAIM_LESSON = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local t = redis.call('TIME')
local now = t[1] + t[2] / 1e6
if redis.call('HGET', KEYS[1], 'is_paused') ~= 'true' then
    if redis.call('HGET', KEYS[1], 'is_streaming') ~= 'true' then return false end
    local beat = tonumber(redis.call('HGET', KEYS[1], 'lesson_beat') or '0') or 0
    if now - beat < tonumber(ARGV[3]) then return false end
end
redis.call('HSET', KEYS[1], 'lesson_run', ARGV[2], 'is_paused', 'false',
           'is_streaming', 'true', 'lesson_beat', string.format('%.3f', now))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# Forget a session's connection only if it is still this one (a reconnect elsewhere may have
# replaced it in between). KEYS: session; ARGV: the connection id (JSON). Returns 1 if cleared.
_RELEASE_CONNECTION_ID = """
if redis.call('HGET', KEYS[1], 'connection_id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'connection_id', 'null')
return 1
"""

# Keep one lesson document, dropping the session's others except those named.
# KEYS: the session's documents; ARGV: ttl, explanation id, document, explanation ids to keep.
_KEEP_LESSON_DOCUMENT = """
local keep = {}
for i = 4, #ARGV do keep[ARGV[i]] = true end
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not keep[name] then redis.call('HDEL', KEYS[1], name) end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# Save a session and index it under its user, dropping the ids of the user's expired sessions.
# KEYS: session, user's set; ARGV: ttl, session id, field/value pairs.
_SAVE_SESSION = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if redis.call('EXISTS', 'session:' .. sid) == 0 then redis.call('SREM', KEYS[2], sid) end
end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], 86400)  -- outlives sessions kept alive by activity
return 1
"""


# Keep the next piece of a recording. Values in the state are JSON (`true`, numbers).
# KEYS: voice state, audio list; ARGV: index, base64 text, decoded size, max bytes, max pieces,
# the recording's id as JSON ('' for the current one).
_ADD_VOICE_CHUNK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'recording_id') ~= ARGV[6] then
    return {'replaced'}
end
if redis.call('HGET', KEYS[1], 'is_recording') ~= 'true' then return {'not_recording'} end
local received = tonumber(redis.call('HGET', KEYS[1], 'chunks_received') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[1], 'bytes_received') or '0')
local index, size = tonumber(ARGV[1]), tonumber(ARGV[3])
if index < received then return {'duplicate', received, bytes} end
if index > received then return {'gap', received, bytes} end
if received >= tonumber(ARGV[5]) then return {'too_many', received, bytes} end
if bytes + size > tonumber(ARGV[4]) then return {'too_large', received, bytes} end
redis.call('RPUSH', KEYS[2], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('HSET', KEYS[1], 'chunks_received', received + 1, 'bytes_received', bytes + size)
return {'ok', received + 1, bytes + size}
"""

# Write fields of one recording's state. KEYS: voice state, audio list. ARGV: recording id
# (JSON), the is_recording it must have ('' for any), ttl (0: keep), drop audio (1/0), pairs.
_UPDATE_RECORDING = """
if redis.call('HGET', KEYS[1], 'recording_id') ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'is_recording') ~= ARGV[2] then return 0 end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if ARGV[3] ~= '0' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] == '1' then redis.call('DEL', KEYS[2]) end
return 1
"""

# Save a voice state unless one exists. KEYS: voice state; ARGV: ttl, field/value pairs.
_RESTORE_VOICE_STATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def auth_session_key(session_id: str) -> str:
    return f"auth_session:{session_id}"


def _encode(fields: dict[str, Any]) -> dict[str | bytes, str | bytes]:
    return {name: _encode_value(value) for name, value in fields.items()}


def _encode_value(value: Any) -> str:
    # (A lesson's position, written ten times a second per lesson, needs no JSON encoder.)
    return str(value) if type(value) is int else compact_json(value)


def _decode_connection_id(raw: str) -> str | None:
    # A Socket.IO sid, as JSON: its quotes stripped unless it holds an escape.
    if raw.startswith('"') and "\\" not in raw:
        return raw[1:-1]
    return json.loads(raw)


def _decode(raw: dict) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in raw.items()}


@dataclass(frozen=True)
class RecordedEvents:
    seqs: list[int]
    connection_id: str | None  # the session's current socket, wherever it is connected


# One lesson's record: session id, events, session fields, expected fields, and whether to renew
# the TTLs and the lesson's lease (see _RECORD_LESSON_EVENTS).
LessonRecord = tuple[str, list["LessonEvent"], dict[str, Any] | None, dict[str, Any] | None, bool]
# An event and its payload: a dict, or its JSON text when the caller has encoded it already.
LessonEvent = tuple[str, dict[str, Any] | str]


class SessionRepository:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._update_existing = client.register_script(_UPDATE_EXISTING)
        self._start_recording = client.register_script(_START_RECORDING)
        self._count_in_window = client.register_script(_COUNT_IN_WINDOW)
        self._claim_connection = client.register_script(_CLAIM_CONNECTION)
        self._refresh_connections = client.register_script(_REFRESH_CONNECTIONS)
        self._record_lesson_events = client.register_script(_RECORD_LESSON_EVENTS)
        self._claim_lesson = client.register_script(_CLAIM_LESSON)
        self._save_session = client.register_script(_SAVE_SESSION)
        self._keep_lesson_document = client.register_script(_KEEP_LESSON_DOCUMENT)
        self._release_connection_id = client.register_script(_RELEASE_CONNECTION_ID)
        self._add_voice_chunk = client.register_script(_ADD_VOICE_CHUNK)
        self._update_recording = client.register_script(_UPDATE_RECORDING)
        self._restore_voice_state = client.register_script(_RESTORE_VOICE_STATE)

    # -- sessions -------------------------------------------------------------------------
    @redis_call
    def save_session(self, session_id: str, state: SessionState) -> None:
        # The user's live sessions are indexed so a logout can end them all; the index lives a
        # day past the user's latest new session and forgets the expired ones.
        args: list[Any] = [SESSION_TTL_SECONDS, session_id]
        for name, value in _encode(state.model_dump()).items():
            args.extend((name, value))
        self._save_session(
            keys=[session_key(session_id), user_sessions_key(state.user_id)], args=args
        )

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
    def release_connection_id(self, session_id: str, connection_id: str) -> bool:
        """Mark the session as having no connection, if `connection_id` is still its current
        one; True when it was (this socket was the session's, not a stale one)."""
        return bool(
            self._release_connection_id(
                keys=[session_key(session_id)], args=[json.dumps(connection_id)]
            )
        )

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
        keys = [
            session_key(session_id),
            lesson_seq_key(session_id),
            lesson_events_key(session_id),
            lesson_answers_key(session_id),
        ]
        return bool(self._update_existing(keys=keys, args=args))

    @redis_call
    def record_lesson_events(
        self,
        session_id: str,
        events: list[LessonEvent],
        session_fields: dict[str, Any] | None = None,
        *,
        expect: dict[str, Any] | None = None,
    ) -> RecordedEvents | None:
        """Give lesson events their sequence numbers (shared by all processes) and keep them,
        with those numbers, for a client that reconnects after missing some; update session
        fields in the same atomic step. With `expect`, nothing happens unless the session's
        fields hold those values (None: the lesson was taken from this writer)."""
        record = (session_id, events, session_fields, expect, True)
        result = self.record_lesson_events_many([record])[0]
        if isinstance(result, Exception):
            raise result
        return result

    @redis_call
    def record_lesson_events_many(
        self, records: list[LessonRecord]
    ) -> list[RecordedEvents | Exception | None]:
        """Many lessons' records in one round trip and one script call, each record fenced on
        its own: one result per record, an exception for a record that failed (it may have
        been kept in part: its caller sends what was kept before reporting, see
        `lesson_events_after`). Redis unavailable raises for all of them."""
        if not records:
            return []
        keys: list[str] = []
        args: list[Any] = [SESSION_TTL_SECONDS, LESSON_EVENTS_KEPT]
        for session_id, events, session_fields, expect, renew in records:
            keys += (
                lesson_seq_key(session_id),
                lesson_events_key(session_id),
                session_key(session_id),
                lesson_answers_key(session_id),
            )
            record = self._lesson_record(events, session_fields, expect)
            args += (len(record) + 1, 1 if renew else 0)
            args += record
        replies = self._record_lesson_events(keys=keys, args=args)
        return [
            self._recorded(reply, len(record[1]))
            for reply, record in zip(cast(list, replies), records, strict=True)
        ]

    @staticmethod
    def _recorded(reply: Any, count: int) -> RecordedEvents | Exception | None:
        if not reply:
            return None
        first, connection_id = reply
        if first == "error":
            return redis.ResponseError(connection_id)
        first = int(first)
        return RecordedEvents(
            list(range(first, first + count)),
            _decode_connection_id(connection_id),
        )

    @staticmethod
    def _lesson_record(
        events: list[LessonEvent],
        session_fields: dict[str, Any] | None,
        expect: dict[str, Any] | None,
    ) -> list[Any]:
        args: list[Any] = [len(expect) if expect else 0]
        for name, value in (expect or {}).items():
            args += (name, _encode_value(value))
        args.append(len(events))
        for event, payload in events:
            args += (event, payload if isinstance(payload, str) else compact_json(payload))
        for name, value in (session_fields or {}).items():
            args += (name, _encode_value(value))
        return args

    @redis_call
    def keep_lesson_document(
        self,
        session_id: str,
        explanation_id: str,
        document: dict[str, Any],
        *,
        keep: list[str] | None = None,
    ) -> None:
        """Keep a lesson's document with the session (a paused lesson resumes exactly the text it
        started with). The documents of other explanations are dropped, except those in `keep`."""
        self._keep_lesson_document(
            keys=[lesson_answers_key(session_id)],
            args=[
                SESSION_TTL_SECONDS,
                explanation_id,
                compact_json(document),
                *(keep or []),
            ],
        )

    @redis_call
    def claim_lesson(
        self, session_id: str, run: str, *, lease_seconds: float
    ) -> SessionState | None:
        """Take over the session's lesson with a new run id if it is paused, or streaming on a
        process that stopped renewing its lease; the session as it is then, or None."""
        raw = self._claim_lesson(
            keys=[session_key(session_id), lesson_answers_key(session_id)],
            args=[SESSION_TTL_SECONDS, json.dumps(run), lease_seconds],
        )
        if not raw:
            return None
        pairs = cast(list, raw)
        return SessionState.model_validate(_decode(dict(zip(pairs[::2], pairs[1::2], strict=True))))

    @redis_call
    def get_lesson_document(self, session_id: str, explanation_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(lesson_answers_key(session_id), explanation_id)
        return json.loads(cast(str, raw)) if raw else None

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
        format: int | None = None,
        templates: list[str] | None = None,
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
        if format is not None:
            value["format"] = format  # of the prepared canvas commands
        if templates:
            value["templates"] = templates
        self.redis.set(
            answer_cache_key(question_hash),
            compact_json(value),
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
    def start_recording(
        self, session_id: str, state: VoiceState, *, user_id: str, max_open: int
    ) -> tuple[bool, str | None]:
        """A new recording: any earlier one of the session, or of the student's other session,
        and its audio, is replaced. (opened, the other session whose recording was dropped);
        not opened when `max_open` recordings are open already (a bound on the audio Redis
        holds, whoever the students are)."""
        args: list[Any] = [session_id, VOICE_STATE_TTL_SECONDS, max_open]
        for name, value in _encode(state.model_dump()).items():
            args.extend((name, value))
        opened, previous = cast(
            list,
            self._start_recording(
                keys=[
                    OPEN_RECORDINGS_KEY,
                    user_recording_key(user_id),
                    voice_state_key(session_id),
                    voice_audio_key(session_id),
                ],
                args=args,
            ),
        )
        return bool(opened), (str(previous) if previous else None)

    @redis_call
    def open_recordings(self) -> int:
        """How many recordings are open now, across the deployment."""
        t = cast(tuple, self.redis.time())
        return int(self.redis.zcount(OPEN_RECORDINGS_KEY, f"({t[0]}", "+inf"))

    @redis_call
    def restore_voice_state(self, session_id: str, state: VoiceState) -> bool:
        """Put a recording's state back unless another recording has begun since."""
        args: list[Any] = [VOICE_STATE_TTL_SECONDS]
        for name, value in _encode(state.model_dump()).items():
            args.extend((name, value))
        return bool(self._restore_voice_state(keys=[voice_state_key(session_id)], args=args))

    @redis_call
    def get_voice_state(self, session_id: str) -> VoiceState | None:
        raw = cast(dict, self.redis.hgetall(voice_state_key(session_id)))
        return VoiceState.model_validate(_decode(raw)) if raw else None

    @redis_call
    def update_recording(
        self,
        session_id: str,
        recording_id: str,
        fields: dict[str, Any],
        *,
        while_recording: bool | None = None,
        renew: bool = False,
        drop_audio: bool = False,
    ) -> bool:
        """Write fields of this recording's state (not a newer one's); with `while_recording`,
        only while `is_recording` has that value. `renew` gives it a fresh TTL; `drop_audio`
        deletes the audio received. False when the state is gone or did not match."""
        args: list[Any] = [
            json.dumps(recording_id),
            "" if while_recording is None else json.dumps(while_recording),
            VOICE_STATE_TTL_SECONDS if renew else 0,
            1 if drop_audio else 0,
        ]
        for name, value in _encode(fields).items():
            args.extend((name, value))
        keys = [voice_state_key(session_id), voice_audio_key(session_id)]
        return bool(self._update_recording(keys=keys, args=args))

    @redis_call
    def add_voice_chunk(
        self,
        session_id: str,
        index: int,
        data: str,
        *,
        size: int,
        max_bytes: int,
        max_chunks: int,
        recording_id: str | None = None,
    ) -> tuple[str, int, int]:
        """Keep a piece of the recording (its base64 text, `size` bytes decoded) if it is the
        next one, of this recording when `recording_id` is given: (outcome, chunks received,
        bytes received). Outcomes: `ok`, `duplicate` (kept already), `gap` (an earlier piece is
        missing), `too_large`, `too_many`, `not_recording`, `replaced` (by a newer recording),
        `missing` (no recording, or it expired)."""
        expected = json.dumps(recording_id) if recording_id is not None else ""
        reply = cast(
            list,
            self._add_voice_chunk(
                keys=[voice_state_key(session_id), voice_audio_key(session_id)],
                args=[index, data, size, max_bytes, max_chunks, expected],
            ),
        )
        outcome = str(reply[0])
        received, size_so_far = (int(reply[1]), int(reply[2])) if len(reply) == 3 else (0, 0)
        return outcome, received, size_so_far

    @redis_call
    def voice_audio(self, session_id: str) -> list[str]:
        """The pieces of the recording received so far, in order (base64 text)."""
        return cast(list, self.redis.lrange(voice_audio_key(session_id), 0, -1))

    @redis_call
    def delete_voice_state(self, session_id: str) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(voice_state_key(session_id), voice_audio_key(session_id))
            pipe.zrem(OPEN_RECORDINGS_KEY, session_id)
            pipe.execute()

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

    @redis_call
    def count_transcription(self, user_id: str, window_seconds: int) -> tuple[int, int]:
        """Count one server-side transcription in the user's window: (count, seconds left)."""
        count, ttl = self._count_in_window(
            keys=[transcription_rate_key(user_id)], args=[window_seconds]
        )
        return int(count), int(ttl)
