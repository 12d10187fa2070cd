"""The Redis keys of the seed's section 5, with their TTLs, on a real Redis."""

import time

from app.models.session import SessionState
from app.models.voice import VoiceState


def test_session_round_trips_with_a_30_minute_ttl(container, redis_client):
    state = SessionState(user_id="u1", connection_id="sid-1", conversation_context={"a": [1]})
    container.sessions.save_session("s1", state)
    assert container.sessions.get_session("s1") == state
    assert 1790 <= redis_client.ttl("session:s1") <= 1800
    assert redis_client.type("session:s1") == "hash"


def test_updating_fields_keeps_the_rest_and_renews_the_ttl(container, redis_client):
    container.sessions.save_session("s1", SessionState(user_id="u1", current_question="abc"))
    redis_client.expire("session:s1", 5)
    assert container.sessions.update_session(
        "s1", {"pause_position": 150, "is_paused": True, "current_step": 3}
    )
    state = container.sessions.get_session("s1")
    assert (state.pause_position, state.is_paused, state.current_step) == (150, True, 3)
    assert state.current_question == "abc"
    assert redis_client.ttl("session:s1") > 1790


def test_an_expired_session_is_not_resurrected_by_an_update(container, redis_client):
    assert container.sessions.update_session("gone", {"is_paused": True}) is False
    assert not redis_client.exists("session:gone")
    assert container.sessions.get_session("gone") is None


def test_answer_cache_holds_steps_for_24_hours(container, redis_client):
    steps = [{"title": "Idea", "content": "¡Hola, $x^2$!"}]
    container.sessions.cache_answer("h" * 64, steps, 90)
    cached = container.sessions.get_cached_answer("h" * 64)
    assert cached["steps"] == steps and cached["total_duration"] == 90 and cached["cached_at"]
    assert 86_390 <= redis_client.ttl("answer_cache:" + "h" * 64) <= 86_400
    container.sessions.evict_answer("h" * 64)
    assert container.sessions.get_cached_answer("h" * 64) is None


def test_voice_state_lives_5_minutes_and_a_new_recording_replaces_the_old(container, redis_client):
    repo = container.sessions
    repo.start_recording("s1", VoiceState(is_recording=True), user_id="u1", max_open=10)
    assert repo.add_voice_chunk("s1", 0, "QUJD", size=3, max_bytes=100, max_chunks=10)[0] == "ok"
    state = repo.get_voice_state("s1")
    assert state.is_recording and state.chunks_received == 1 and state.bytes_received == 3
    assert redis_client.type("voice_state:s1") == "hash"
    assert 290 <= redis_client.ttl("voice_state:s1") <= 300
    # The audio lives exactly as long as its state.
    assert 290 <= redis_client.ttl("voice_audio:s1") <= 300
    repo.start_recording("s1", VoiceState(is_recording=True), user_id="u1", max_open=10)
    assert repo.get_voice_state("s1").chunks_received == 0 and repo.voice_audio("s1") == []
    repo.delete_voice_state("s1")
    assert repo.get_voice_state("s1") is None
    assert not redis_client.exists("voice_state:s1", "voice_audio:s1")


def test_voice_chunks_are_kept_in_order_once_each_and_within_bounds(container):
    repo = container.sessions
    repo.start_recording("s1", VoiceState(is_recording=True), user_id="u1", max_open=10)

    def add(index: int, data: str = "QUJD", size: int = 3) -> tuple[str, int, int]:
        return repo.add_voice_chunk("s1", index, data, size=size, max_bytes=10, max_chunks=3)

    assert add(0) == ("ok", 1, 3)
    assert add(0) == ("duplicate", 1, 3)  # sent again after a blip: kept once
    assert add(2) == ("gap", 1, 3)  # piece 1 is missing
    assert add(1, "REVG") == ("ok", 2, 6)
    assert add(2, "R0hJ", size=5) == ("too_large", 2, 6)
    assert add(2, "R0hJ") == ("ok", 3, 9)
    assert add(3, "", size=0) == ("too_many", 3, 9)
    assert repo.voice_audio("s1") == ["QUJD", "REVG", "R0hJ"]
    assert repo.add_voice_chunk("gone", 0, "QUJD", size=3, max_bytes=10, max_chunks=3)[0] == (
        "missing"
    )
    rid = repo.get_voice_state("s1").recording_id
    assert repo.update_recording("s1", rid, {"is_recording": False}, while_recording=True)
    assert add(3)[0] == "not_recording"


def test_a_recording_is_updated_only_by_its_own_flow(container, redis_client):
    repo = container.sessions
    repo.start_recording("s1", VoiceState(is_recording=True), user_id="u1", max_open=10)
    old = repo.get_voice_state("s1")
    repo.add_voice_chunk("s1", 0, "QUJD", size=3, max_bytes=10, max_chunks=3)
    # Once transcribing, a second completion does not start another transcription.
    assert repo.update_recording(
        "s1", old.recording_id, {"is_recording": False}, while_recording=True
    )
    assert not repo.update_recording(
        "s1", old.recording_id, {"is_recording": False}, while_recording=True
    )
    redis_client.expire("voice_state:s1", 5)
    assert repo.update_recording(
        "s1", old.recording_id, {"transcription": "hola"}, renew=True, drop_audio=True
    )
    assert repo.get_voice_state("s1").transcription == "hola" and repo.voice_audio("s1") == []
    assert redis_client.ttl("voice_state:s1") > 290
    # A newer recording is not touched by the older one's late result.
    repo.start_recording("s1", VoiceState(is_recording=True), user_id="u1", max_open=10)
    assert not repo.update_recording("s1", old.recording_id, {"transcription": "tarde"})
    assert repo.get_voice_state("s1").transcription is None
    assert not repo.restore_voice_state("s1", old)  # nor put back over it
    repo.delete_voice_state("s1")
    assert repo.restore_voice_state("s1", old)
    assert repo.get_voice_state("s1").recording_id == old.recording_id


def test_transcriptions_are_counted_apart_from_questions(container):
    assert container.sessions.count_transcription("u1", 60) == (1, 60)
    assert container.sessions.count_question("u1", 60) == (1, 60)
    assert container.sessions.count_transcription("u1", 60)[0] == 2


def test_question_counter_counts_within_a_window_that_always_expires(container, redis_client):
    assert container.sessions.count_question("u1", 60) == (1, 60)
    count, ttl = container.sessions.count_question("u1", 60)
    assert count == 2 and 0 < ttl <= 60
    # A counter left without expiry (a crash elsewhere, an operator's SET) is healed.
    redis_client.set("rate_limit:u2:questions", 7)
    assert container.sessions.count_question("u2", 60) == (8, 60)
    assert redis_client.ttl("rate_limit:u2:questions") == 60


def test_a_users_session_index_forgets_expired_sessions(container, redis_client):
    container.sessions.save_session("old", SessionState(user_id="u1"))
    redis_client.delete("session:old")  # expired
    container.sessions.save_session("new", SessionState(user_id="u1"))
    assert redis_client.smembers("user_sessions:u1") == {"new"}


def test_lesson_events_are_fenced_by_the_run_that_owns_the_lesson(container, redis_client):
    repo = container.sessions
    repo.save_session("s1", SessionState(user_id="u1", connection_id="sid-9"))
    assert repo.update_session("s1", {"lesson_run": "r1", "is_streaming": True})
    chunk = ("content_chunk", {"chunk": "La "})
    recorded = repo.record_lesson_events(
        "s1", [chunk], {"pause_position": 3}, expect={"lesson_run": "r1"}
    )
    assert recorded.seqs == [1] and recorded.connection_id == "sid-9"
    # Paused elsewhere: the run is gone, and its next chunk is neither kept nor counted.
    repo.update_session("s1", {"lesson_run": None, "is_paused": True})
    assert (
        repo.record_lesson_events("s1", [chunk], {"pause_position": 7}, expect={"lesson_run": "r1"})
        is None
    )
    assert repo.get_session("s1").pause_position == 3
    assert [seq for seq in (d["seq"] for _, d in repo.lesson_events_after("s1", 0))] == [1]
    # A paused lesson is claimed once; a lesson streaming with a fresh lease is not claimable.
    claimed = repo.claim_lesson("s1", "r2", lease_seconds=3)
    assert claimed.lesson_run == "r2" and claimed.is_streaming and not claimed.is_paused
    assert repo.claim_lesson("s1", "r3", lease_seconds=3) is None
    assert repo.record_lesson_events("s1", [chunk], expect={"lesson_run": "r2"}).seqs == [2]
    time.sleep(0.05)
    assert repo.claim_lesson("s1", "r3", lease_seconds=0.02) is not None  # its lease lapsed


def test_lesson_documents_are_kept_per_explanation_with_the_session(container, redis_client):
    repo = container.sessions
    repo.save_session("s1", SessionState(user_id="u1"))
    repo.keep_lesson_document("s1", "e1", {"steps": [1]})
    repo.keep_lesson_document("s1", "e2", {"steps": [2]}, keep=["e1"])  # a follow-up of e1
    assert repo.get_lesson_document("s1", "e1") == {"steps": [1]}
    repo.keep_lesson_document("s1", "e3", {"steps": [3]})  # a new lesson: the others go
    assert repo.get_lesson_document("s1", "e1") is None
    assert repo.get_lesson_document("s1", "e3") == {"steps": [3]}
    assert 1790 <= redis_client.ttl("lesson_answers:s1") <= 1800


def test_many_lessons_record_in_one_round_trip_each_fenced_on_its_own(container, redis_client):
    repo = container.sessions
    for sid, run in (("a", "ra"), ("b", "rb")):
        repo.save_session(sid, SessionState(user_id="u1"))
        repo.update_session(sid, {"lesson_run": run, "is_streaming": True})
    chunk = ("content_chunk", {"chunk": "x"})
    redis_client.script_flush()  # as after a Redis restart: the script is loaded again
    results = repo.record_lesson_events_many(
        [
            ("a", [chunk], {"pause_position": 1}, {"lesson_run": "ra"}, True),
            ("b", [chunk, chunk], {"pause_position": 2}, {"lesson_run": "someone-else"}, True),
        ]
    )
    assert results[0].seqs == [1] and results[1] is None
    assert (repo.get_session("a").pause_position, repo.get_session("b").pause_position) == (1, 0)
    assert repo.lesson_events_after("b", 0) == []


def test_a_lesson_renews_its_lease_and_ttls_only_when_it_asks(container, redis_client):
    repo = container.sessions
    repo.save_session("a", SessionState(user_id="u1"))
    repo.update_session("a", {"lesson_run": "ra", "is_streaming": True})
    chunk = ("content_chunk", '{"chunk":"x"}')  # a payload already encoded
    repo.record_lesson_events_many([("a", [chunk], None, {"lesson_run": "ra"}, True)])
    beat = repo.get_session("a").lesson_beat
    assert beat > 0
    redis_client.expire("session:a", 100)
    results = repo.record_lesson_events_many(
        [("a", [chunk, chunk], {"pause_position": 5}, {"lesson_run": "ra"}, False)]
    )
    assert results[0].seqs == [2, 3]  # recorded and fenced as ever
    state = repo.get_session("a")
    assert (state.pause_position, state.lesson_beat) == (5, beat)
    assert redis_client.ttl("session:a") <= 100
    time.sleep(0.01)  # (the beat is kept to the millisecond)
    repo.record_lesson_events_many([("a", [chunk], None, {"lesson_run": "ra"}, True)])
    assert repo.get_session("a").lesson_beat > beat
    assert redis_client.ttl("session:a") > 1000
    assert [p["seq"] for _, p in repo.lesson_events_after("a", 0)] == [1, 2, 3, 4]


def test_only_the_current_connection_releases_the_session(container):
    repo = container.sessions
    repo.save_session("s1", SessionState(user_id="u1", connection_id="new-sid"))
    assert repo.release_connection_id("s1", "old-sid") is False  # a stale socket
    assert repo.get_session("s1").connection_id == "new-sid"
    assert repo.release_connection_id("s1", "new-sid") is True
    assert repo.get_session("s1").connection_id is None


def test_a_failing_record_fails_alone(container, redis_client):
    repo = container.sessions
    repo.save_session("a", SessionState(user_id="u1"))
    repo.update_session("a", {"lesson_run": "ra", "is_streaming": True})
    redis_client.set("session:broken", "not a hash")  # any command on it fails
    chunk = ("content_chunk", '{"chunk":"x"}')
    results = repo.record_lesson_events_many(
        [
            ("broken", [chunk], None, {"lesson_run": "rb"}, True),
            ("a", [chunk], {"pause_position": 3}, {"lesson_run": "ra"}, True),
        ]
    )
    assert isinstance(results[0], Exception) and "WRONGTYPE" in str(results[0])
    assert results[1].seqs == [1] and repo.get_session("a").pause_position == 3
