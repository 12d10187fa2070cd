"""Reading recordings from their bytes: the four formats browsers and recorders send, made from
real Spanish speech (tests/fixtures/voice/make_recordings.py), and everything that is not one."""

from __future__ import annotations

import base64
import io
import json
import math
import struct
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


def test_reading_stops_once_a_recording_is_known_to_be_too_long():
    whole = probe(recording("larga.webm"))
    early = probe(recording("larga.webm"), max_seconds=60)
    assert 60 < early.duration < whole.duration
    # A minute and more of the smallest MP3 frames: not read to its end.
    frame = (0xFFE31800).to_bytes(4, "big") + bytes(68)  # MPEG-2.5 layer III, 8 kbit/s, 8 kHz
    assert probe(frame * 50_000, max_seconds=61).duration == pytest.approx(61, abs=0.1)


def test_a_flood_of_tiny_elements_is_refused_after_a_bounded_read():
    header = recording("pregunta.webm")
    header = header[: header.index(bytes.fromhex("1f43b675"))]
    cluster = bytes.fromhex("1f43b67501ffffffffffffff")
    void = bytes.fromhex("ec80")  # an empty Void element, over and over
    with pytest.raises(AudioError) as refused:
        probe(header + cluster + void * 100_000)
    assert refused.value.reason == "not_audio"


def test_only_opus_is_taken_in_webm_and_ogg():
    webm = recording("pregunta.webm").replace(b"A_OPUS", b"A_OPUZ", 1)
    with pytest.raises(AudioError) as refused:
        probe(webm)
    assert refused.value.reason == "unsupported_format"
    vorbis = b"\x01vorbis" + bytes(4) + (44_100).to_bytes(4, "little") + bytes(16)
    page = b"OggS" + bytes(2) + bytes(8) + bytes(12) + bytes([1, len(vorbis)]) + vorbis
    with pytest.raises(AudioError) as refused:
        probe(page)
    assert refused.value.reason == "unsupported_format"


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


# -- recordings shaped to be billed for more than they claim ---------------------------------
def ebml(element: int, payload: bytes) -> bytes:
    size = (0x0100000000000000 | len(payload)).to_bytes(8, "big")
    return element.to_bytes((element.bit_length() + 7) // 8, "big") + size + payload


def webm(tracks: list[bytes], blocks: list[tuple[int, bytes]]) -> bytes:
    live = bytes.fromhex("01ffffffffffffff")
    cluster = b"".join(
        ebml(0xA3, bytes([0x80 | track]) + struct.pack(">hB", 20 * n, 0x80) + packet)
        for n, (track, packet) in enumerate(blocks)
    )
    return (
        ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
        + bytes.fromhex("18538067") + live + ebml(0x1654AE6B, b"".join(tracks))
        + bytes.fromhex("1f43b675") + live + ebml(0xE7, b"\x00") + cluster
    )  # fmt: skip


def opus_track(number: int, codec: bytes = b"A_OPUS", extra: bytes = b"") -> bytes:
    return ebml(0xAE, ebml(0xD7, bytes([number])) + ebml(0x83, b"\x02") + ebml(0x86, codec) + extra)


OPUS_20MS = bytes([1 << 3]) + bytes(20)  # SILK, 20 ms, one frame


def ogg_page(serial: int, sequence: int, granule: int, packets: list[bytes]) -> bytes:
    lacing = bytes(len(packet) for packet in packets)
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, 0, granule, serial, sequence, 0, len(packets))
    return header + lacing + b"".join(packets)


def opus_stream(serial: int, packets: int) -> bytes:
    head = b"OpusHead\x01\x01" + struct.pack("<HI", 312, 48_000) + bytes(3)
    pages = [ogg_page(serial, 0, 0, [head]), ogg_page(serial, 1, 0, [b"OpusTags"])]
    for n in range(0, packets, 100):
        count = min(100, packets - n)
        pages.append(ogg_page(serial, 2 + n, (n + count) * 960, [OPUS_20MS] * count))
    return b"".join(pages)


def test_the_webm_fixture_shape_is_measured_by_its_packets():
    assert probe(webm([opus_track(1)], [(1, OPUS_20MS)] * 50)).duration == pytest.approx(1.0)


def test_every_data_chunk_of_a_wav_counts():
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    chunks = b"data" + struct.pack("<I", 8000) + bytes(8000)
    chunks += b"data" + struct.pack("<I", 80_000) + bytes(80_000)
    body = b"WAVE" + fmt + chunks
    assert probe(b"RIFF" + struct.pack("<I", len(body)) + body).duration == 11.0


def wav_of(
    tag: int, bits: int, seconds: float, *, extension: bytes = b"", rate: int = 8000
) -> bytes:
    """A mono WAV of this encoding and sample size (and a format extension after cbSize)."""
    block = bits // 8
    fields = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    if extension:
        fields += struct.pack("<H", len(extension)) + extension
    fmt = b"fmt " + struct.pack("<I", len(fields)) + fields
    samples = bytes(int(seconds * rate) * block)
    body = b"WAVE" + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def extensible(sub_format: int, *, bits: int = 16, tail: bytes = b"") -> bytes:
    """WAVE_FORMAT_EXTENSIBLE's extension: valid bits, channel mask and the sub-format GUID."""
    guid_tail = tail or b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    return struct.pack("<HIH", bits, 4, sub_format) + guid_tail


@pytest.mark.parametrize(
    ("data", "seconds"),
    [
        (wav_of(6, 8, 2.0), 2.0),  # A-law, as telephony recorders write it
        (wav_of(7, 8, 3.0), 3.0),  # µ-law
        (wav_of(3, 32, 1.5), 1.5),  # float
        (wav_of(3, 64, 1.0), 1.0),
        (wav_of(0xFFFE, 16, 2.5, extension=extensible(1)), 2.5),  # extensible PCM
        (wav_of(0xFFFE, 32, 0.5, extension=extensible(3, bits=32)), 0.5),  # extensible float
    ],
)
def test_each_wav_encoding_a_decoder_plays_is_measured_by_its_samples(data, seconds):
    assert probe(data).duration == seconds


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # A-law and µ-law are 8-bit: a wider sample would halve the duration counted.
        (wav_of(6, 16, 2.0), "not_audio"),
        (wav_of(7, 32, 2.0), "not_audio"),
        (wav_of(3, 16, 2.0), "not_audio"),
        # The encoding of an extensible WAV is its sub-format, not the tag.
        (wav_of(0xFFFE, 16, 2.0, extension=extensible(0x55)), "unsupported_format"),  # MP3
        (wav_of(0xFFFE, 16, 2.0, extension=extensible(1, tail=bytes(14))), "unsupported_format"),
        (wav_of(0xFFFE, 16, 2.0), "not_audio"),  # its extension is missing
        (wav_of(0x55, 16, 2.0), "unsupported_format"),
        (wav_of(2, 16, 2.0), "unsupported_format"),  # ADPCM: blocks of compressed samples
    ],
)
def test_a_wav_whose_encoding_cannot_be_counted_is_refused(data, reason):
    with pytest.raises(AudioError) as refused:
        probe(data)
    assert refused.value.reason == reason


TWO_TRACKS = webm([opus_track(1), opus_track(2)], [(1, OPUS_20MS)] * 50 + [(2, OPUS_20MS)])
STRIPPED = opus_track(1, extra=ebml(0x6D80, ebml(0x6240, b"")))  # header stripping


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # A second track, a second Ogg stream: a decoder plays them too.
        (TWO_TRACKS, "unsupported_format"),
        (opus_stream(1, 50) + opus_stream(2, 30_000), "unsupported_format"),
        # Blocks of a track never declared.
        (webm([opus_track(1)], [(1, OPUS_20MS), (2, OPUS_20MS)]), "not_audio"),
        # Codecs whose packets cannot be counted here, and Opus with its headers stripped.
        (webm([opus_track(1, b"A_VORBIS")], [(1, bytes(30))] * 100), "unsupported_format"),
        (webm([opus_track(1, b"A_AAC")], [(1, bytes(30))] * 100), "unsupported_format"),
        (webm([STRIPPED], [(1, OPUS_20MS)]), "unsupported_format"),
    ],
)
def test_recordings_that_would_be_played_longer_than_measured_are_refused(data, reason):
    with pytest.raises(AudioError) as refused:
        probe(data)
    assert refused.value.reason == reason


def test_mp3_frames_after_a_stray_byte_are_not_hidden():
    frame = (0xFFFB9000).to_bytes(4, "big") + bytes(413)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    assert probe(frame * 100).duration == pytest.approx(100 * 1152 / 44_100)
    with pytest.raises(AudioError):
        probe(frame * 100 + b"\x00" + frame * 1000)


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
