"""Reading recordings from their bytes: the four formats browsers and recorders send, made from
real Spanish speech (tests/fixtures/voice/make_recordings.py), and everything that is not one."""

from __future__ import annotations

import base64
import io
import json
import math
import wave
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.utils.audio import AudioError, decode_base64, probe

VOICE = Path(__file__).parents[1] / "fixtures" / "voice"
RECORDINGS = json.loads((VOICE / "recordings.json").read_text())


def recording(name: str) -> bytes:
    return (VOICE / name).read_bytes()


def pcm_wav(seconds: float, *, rate: int = 16_000, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        frames = int(seconds * rate)
        tone = (int(8000 * math.sin(n / 8)) for n in range(frames))
        wav.writeframes(b"".join(v.to_bytes(2, "little", signed=True) * channels for v in tone))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "container", "codec", "tolerance"),
    [
        ("pregunta.webm", "webm", "opus", 0.03),  # Opus pads its last 20 ms frame
        ("pregunta.ogg", "ogg", "opus", 0.01),
        ("pregunta.wav", "wav", "pcm", 0.001),
        ("pregunta.mp3", "mp3", "mp3", 0.06),  # the encoder's delay and padding
        ("larga.webm", "webm", "opus", 0.03),
    ],
)
def test_each_format_is_recognized_with_the_duration_of_its_speech(
    name, container, codec, tolerance
):
    info = probe(recording(name))
    assert (info.container, info.codec) == (container, codec)
    assert info.duration == pytest.approx(RECORDINGS[name]["seconds"], abs=tolerance)
    assert info.filename == f"audio.{container}" and info.mime_type.startswith("audio/")


def test_the_webm_fixture_is_written_live_as_chrome_writes_it():
    data = recording("pregunta.webm")
    unknown = bytes.fromhex("01ffffffffffffff")
    assert bytes.fromhex("18538067") + unknown in data  # the segment
    assert data.count(bytes.fromhex("1f43b675") + unknown) >= 1  # its clusters
    assert bytes.fromhex("4489") not in data[:400]  # no duration in its header


def test_timestamps_that_lie_do_not_shorten_a_recording():
    # A client could rewrite the timing fields; a decoder (and the bill) plays every packet.
    webm = bytearray(recording("larga.webm"))
    scale = webm.index(bytes.fromhex("2ad7b183"))  # TimestampScale, 3 bytes: 1 ms
    webm[scale + 4 : scale + 7] = (1).to_bytes(3, "big")  # 1 ns: the stamps say 68 µs
    assert probe(bytes(webm)).duration == pytest.approx(
        RECORDINGS["larga.webm"]["seconds"], abs=0.03
    )
    ogg = bytearray(recording("pregunta.ogg"))
    page = ogg.find(b"OggS", 100)
    while page >= 0:  # every granule position after the headers set to zero
        ogg[page + 6 : page + 14] = bytes(8)
        page = ogg.find(b"OggS", page + 1)
    assert probe(bytes(ogg)).duration == pytest.approx(
        RECORDINGS["pregunta.ogg"]["seconds"], abs=0.03
    )


def test_a_long_recording_is_measured_whole():
    assert probe(recording("larga.webm")).duration > 60


def test_a_wav_of_exactly_a_minute_lasts_a_minute():
    assert probe(pcm_wav(60.0)).duration == 60.0
    assert probe(pcm_wav(2.5, rate=48_000, channels=2)).duration == 2.5


def test_a_wav_whose_recorder_left_a_placeholder_size_counts_its_samples():
    data = bytearray(pcm_wav(3.0))
    data_chunk = data.index(b"data")
    data[data_chunk + 4 : data_chunk + 8] = (0xFFFFFFFF).to_bytes(4, "little")
    assert probe(bytes(data)).duration == 3.0


def test_a_recording_cut_short_counts_what_arrived():
    whole = recording("pregunta.webm")
    cut = probe(whole[: len(whole) // 2])
    assert 0.5 < cut.duration < probe(whole).duration
    ogg = recording("pregunta.ogg")
    assert 0 < probe(ogg[: len(ogg) * 2 // 3]).duration < probe(ogg).duration


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_audio"),
        (b"hola, esto es texto y no audio", "not_audio"),
        (json.dumps({"audio": "no"}).encode(), "not_audio"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "not_audio"),
        (b"%PDF-1.7\n" + bytes(100), "not_audio"),
        (bytes(4) + b"ftypM4A " + bytes(100), "unsupported_format"),  # MP4 (Safari)
        (b"fLaC" + bytes(100), "unsupported_format"),
        (b"\xff\xfb" + bytes(2000), "not_audio"),  # a frame sync, then nothing of MP3
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "empty_audio"),  # a tag and no frames
        (b"OggS" + bytes(60), "not_audio"),
        (b"\x1a\x45\xdf\xa3" + bytes(60), "not_audio"),
    ],
)
def test_what_is_not_a_usable_recording_is_refused_with_its_reason(data, reason):
    with pytest.raises(AudioError) as refused:
        probe(data)
    assert refused.value.reason == reason


def test_a_wav_with_no_samples_is_empty():
    with pytest.raises(AudioError) as refused:
        probe(pcm_wav(0))
    assert refused.value.reason == "empty_audio"


def test_a_webm_header_without_audio_blocks_is_empty():
    data = recording("pregunta.webm")
    header = data[: data.index(bytes.fromhex("1f43b675"))]  # MediaRecorder's first chunk
    with pytest.raises(AudioError) as refused:
        probe(header)
    assert refused.value.reason == "empty_audio"


def test_base64_is_read_as_browsers_send_it():
    audio = recording("pregunta.ogg")
    plain = base64.b64encode(audio).decode()
    assert decode_base64(plain) == audio
    assert decode_base64("data:audio/ogg;codecs=opus;base64," + plain) == audio
    assert decode_base64("\n".join(plain[i : i + 76] for i in range(0, len(plain), 76))) == audio


@pytest.mark.parametrize("text", ["no es base64!", "QUJ", "data:audio/ogg,QUJD", "Q" * 5])
def test_text_that_is_not_base64_is_refused(text):
    with pytest.raises(AudioError) as refused:
        decode_base64(text)
    assert refused.value.reason == "invalid_base64"


def _check_never_crashes(data: bytes) -> None:
    try:
        info = probe(data)
    except AudioError:
        return
    assert math.isfinite(info.duration) and info.duration > 0


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_are_refused_cleanly(data):
    _check_never_crashes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["pregunta.webm", "pregunta.ogg", "pregunta.wav", "pregunta.mp3"]),
    flips=st.lists(st.tuples(st.integers(0, 12_000), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, 13_000),
)
def test_damaged_recordings_are_read_or_refused_cleanly(name, flips, cut):
    data = bytearray(recording(name)[:cut] if cut else recording(name))
    for position, value in flips:
        if position < len(data):
            data[position] = value
    _check_never_crashes(bytes(data))
