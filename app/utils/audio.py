"""What a recording is, read from its own bytes: the container (never the client's word for
it), its codec, and how long it really lasts.

Browsers record WebM/Opus (Chrome, Edge; clusters of unknown size and no duration, as
MediaRecorder writes them live), Ogg/Opus (Firefox), and recording libraries write WAV or MP3.
The duration is counted from the audio itself (each Opus packet's own length, WAV sample data,
MP3 frames), never from a header field or timestamp a client could have written: what a decoder
plays is what the transcription is billed by. Opus is the only codec taken in WebM and Ogg, as
it is the one browsers record there.

Every parser is bounded (elements, pages, frames read) and raises `AudioError` on anything it
does not understand, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from dataclasses import dataclass

# EBML elements, Ogg pages and segments, or MP3 frames read from one recording: a minute of
# audio in the smallest packets a browser writes needs a tenth of it.
MAX_STEPS = 40_000


class AudioError(ValueError):
    """Not a usable recording. `reason`: invalid_base64, empty_audio, not_audio,
    unsupported_format."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class AudioInfo:
    container: str  # webm, ogg, wav, mp3
    codec: str  # opus, pcm, mp3
    duration: float  # seconds of audio
    size: int  # bytes

    @property
    def filename(self) -> str:
        return f"audio.{self.container}"

    @property
    def mime_type(self) -> str:
        return _MIME_TYPES[self.container]


_MIME_TYPES = {"webm": "audio/webm", "ogg": "audio/ogg", "wav": "audio/wav", "mp3": "audio/mpeg"}
_DATA_URL = re.compile(r"^data:[\w/+.\-]*(;[\w\-]+=[\w\-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def decode_base64(text: str) -> bytes:
    """The bytes of base64 text, as browsers give it (`FileReader.readAsDataURL`'s data URL
    prefix and line breaks allowed); AudioError(invalid_base64) for anything else."""
    body = _WHITESPACE.sub("", _DATA_URL.sub("", text.strip(), count=1))
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise AudioError("invalid_base64", "audio_data is not valid base64") from None


def probe(data: bytes, *, max_seconds: float | None = None) -> AudioInfo:
    """The container, codec and real duration of a recording. With `max_seconds`, reading
    stops once the audio is known to last longer (the duration is then only over it)."""
    if not data:
        raise AudioError("empty_audio", "no audio bytes")
    limit = math.inf if max_seconds is None else max_seconds
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        info = _wav(data)
    elif data[:4] == b"OggS":
        info = _ogg(data, limit)
    elif data[:4] == b"\x1a\x45\xdf\xa3":
        info = _webm(data, limit)
    elif data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        info = _mp3(data, limit)
    elif data[4:8] == b"ftyp" or data[:4] in (b"fLaC", b"FORM", b"caff"):
        raise AudioError("unsupported_format", "a recording format other than the four")
    else:
        raise AudioError("not_audio", "no known recording format")
    if info.duration <= 0:
        raise AudioError("empty_audio", "the recording has no audio")
    return info


# -- WAV ----------------------------------------------------------------------------------
# The sample sizes a decoder takes for each encoding: PCM, IEEE float, A-law and µ-law.
_WAV_BITS = {1: (8, 16, 24, 32), 3: (32, 64), 6: (8,), 7: (8,)}
_WAV_EXTENSIBLE = 0xFFFE
_WAV_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _wav(data: bytes) -> AudioInfo:
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    seconds = 0.0
    seen_data = False
    for _ in range(MAX_STEPS):
        if offset + 8 > len(data):
            break
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = _wav_format(data[body : body + min(size, 40)], size)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError("not_audio", "WAV data before its format")
            seen_data = True
            # A recorder that streams its WAV writes a placeholder size: the bytes there count.
            available = len(data) - body
            if size == 0 or size > available:
                size = available
            block_align, rate = fmt[2], fmt[1]
            seconds += size // block_align / rate  # every data chunk is played, not the first only
        offset = body + size + (size & 1)
    else:
        raise AudioError("not_audio", "too many WAV chunks")
    if not seen_data:
        raise AudioError("not_audio" if fmt is None else "empty_audio", "WAV without sample data")
    return AudioInfo("wav", "pcm", seconds, len(data))


def _wav_format(chunk: bytes, size: int) -> tuple[int, int, int, int]:
    """(encoding, sample rate, block size, bits) of a WAV's format chunk, checked as a decoder
    would: an encoding it plays, at a sample size that encoding has, in whole blocks."""
    if size < 16 or len(chunk) < 16:
        raise AudioError("not_audio", "WAV format chunk is truncated")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", chunk)
    if tag == _WAV_EXTENSIBLE:  # the encoding is the sub-format's GUID
        if size < 40 or len(chunk) < 40:
            raise AudioError("not_audio", "WAV extensible format chunk is truncated")
        if chunk[26:40] != _WAV_GUID_TAIL:
            raise AudioError("unsupported_format", "WAV of a sub-format that is not PCM or float")
        (tag,) = struct.unpack_from("<H", chunk, 24)
    if tag not in _WAV_BITS:
        raise AudioError("unsupported_format", f"WAV encoding {tag:#x}")
    if bits not in _WAV_BITS[tag]:
        raise AudioError("not_audio", f"WAV encoding {tag:#x} of {bits}-bit samples")
    if not (1 <= channels <= 8 and 1_000 <= rate <= 384_000):
        raise AudioError("not_audio", "WAV format out of range")
    if block_align != channels * bits // 8:
        raise AudioError("not_audio", "WAV block alignment does not match")
    return tag, rate, block_align, bits


# -- Ogg ----------------------------------------------------------------------------------
_OGG_PAGE = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, n


def _ogg(data: bytes, limit: float) -> AudioInfo:
    offset = 0
    serial: int | None = None
    pre_skip = 0
    last_granule = -1
    packets = 0  # of the audio stream, its two header packets included
    packet_start = b""  # the first bytes of the packet being assembled (it may span pages)
    played = 0.0  # the Opus packets' own durations, added up
    steps = 0
    while offset + _OGG_PAGE.size <= len(data):  # (a page cut at the end is left out)
        capture, version, _, granule, page_serial, _, _, segments = _OGG_PAGE.unpack_from(
            data, offset
        )
        if capture != b"OggS" or version != 0:
            raise AudioError("not_audio", f"no Ogg page at byte {offset}")
        steps += 1 + segments
        if steps > MAX_STEPS:
            raise AudioError("not_audio", "too many Ogg pages")
        table = data[offset + _OGG_PAGE.size : offset + _OGG_PAGE.size + segments]
        body_at = offset + _OGG_PAGE.size + segments
        body_size = sum(table)
        if len(table) < segments or body_at + body_size > len(data):
            break
        body = data[body_at : body_at + body_size]
        if serial is None:
            pre_skip = _opus_head(body)
            serial = page_serial
        elif page_serial != serial:  # a decoder plays a second stream too
            raise AudioError("unsupported_format", "an Ogg file of several streams")
        if granule >= 0:
            last_granule = max(last_granule, granule)
        at = 0
        for lacing in table:
            packet_start = (packet_start + body[at : at + lacing])[:2]
            at += lacing
            if lacing < 255:  # the packet ends here
                if packets >= 2 and packet_start:
                    played += _opus_packet_seconds(packet_start)
                packets += 1
                packet_start = b""
        if played - pre_skip / 48_000 > limit:
            break
        offset = body_at + body_size
    if serial is None:
        raise AudioError("not_audio", "Ogg without a stream header")
    # What a decoder plays, whatever the granule positions say (they only trim the end).
    stamped = max(0, last_granule - pre_skip) / 48_000  # Opus granules count 48 kHz samples
    return AudioInfo("ogg", "opus", max(stamped, played - pre_skip / 48_000), len(data))


def _opus_head(header: bytes) -> int:
    """The pre-skip of an Ogg stream's first packet, which must be Opus."""
    if header.startswith(b"OpusHead") and len(header) >= 19:
        return int(struct.unpack_from("<H", header, 10)[0])
    if header.startswith((b"\x01vorbis", b"\x7fFLAC", b"Speex", b"\x80theora")):
        raise AudioError("unsupported_format", "an Ogg stream that is not Opus")
    raise AudioError("not_audio", "an Ogg stream of no known codec")


# -- WebM (Matroska) ----------------------------------------------------------------------
# Master elements whose children are read in place (the rest is skipped by size).
_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675
_MASTERS = {0x1A45DFA3, _SEGMENT, _CLUSTER, 0x1654AE6B, 0xAE, 0xE1, 0x1549A966, 0xA0}
_EBML_DOCTYPE, _TIMESTAMP_SCALE, _TRACK_ENTRY = 0x4282, 0x2AD7B1, 0xAE
_TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID = 0xD7, 0x83, 0x86
_CLUSTER_TIMESTAMP, _SIMPLE_BLOCK, _BLOCK = 0xE7, 0xA3, 0xA1
_CONTENT_ENCODINGS = 0x6D80
_UNKNOWN_SIZE = -1


def _vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `offset`: (value, its length in bytes)."""
    if offset >= len(data):
        raise IndexError
    first = data[offset]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or offset + length > len(data):
        raise AudioError("not_audio", f"invalid EBML number at byte {offset}")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[offset + 1 : offset + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        value = _UNKNOWN_SIZE
    return value, length


def _uint(payload: bytes) -> int:
    return int.from_bytes(payload[:8], "big")


def _webm(data: bytes, limit: float) -> AudioInfo:
    doctype = ""
    scale = 1_000_000  # nanoseconds per timestamp unit
    tracks: list[dict[str, object]] = []
    audio_track: int | None = None  # known at the first block: the tracks come before
    cluster_time = 0
    blocks = 0
    first_time = last_time = 0
    last_packet = b""
    played = 0.0  # the Opus packets' own durations, added up
    offset = 0
    steps = 0
    while offset < len(data):
        steps += 1
        if steps > MAX_STEPS:
            raise AudioError("not_audio", "too many EBML elements")
        try:
            element, id_length = _vint(data, offset, keep_marker=True)
            size, size_length = _vint(data, offset + id_length, keep_marker=False)
        except IndexError:
            break  # the recording ends inside an element header (a cut last piece)
        body = offset + id_length + size_length
        if element in _MASTERS:
            if element == _TRACK_ENTRY:
                if audio_track is not None:
                    raise AudioError("not_audio", "a track declared after the audio began")
                tracks.append({})
            offset = body  # its children follow; an unknown size (a live recording) is fine
            continue
        if size == _UNKNOWN_SIZE:
            raise AudioError("not_audio", f"EBML element {element:#x} of unknown size")
        if body + size > len(data):
            break  # the last element was cut: what came before counts
        payload = data[body : body + size]
        if element == _EBML_DOCTYPE:
            doctype = payload.decode("ascii", "replace")
        elif element == _TIMESTAMP_SCALE:
            scale = _uint(payload) or scale
        elif element in (_TRACK_NUMBER, _TRACK_TYPE, _CODEC_ID) and tracks:
            key = {_TRACK_NUMBER: "number", _TRACK_TYPE: "type", _CODEC_ID: "codec"}[element]
            tracks[-1][key] = (
                payload.decode("ascii", "replace") if key == "codec" else _uint(payload)
            )
        elif element == _CONTENT_ENCODINGS and tracks:
            tracks[-1]["encoded"] = True  # (header stripping would hide the packets' sizes)
        elif element == _CLUSTER_TIMESTAMP:
            cluster_time = _uint(payload)
        elif element in (_SIMPLE_BLOCK, _BLOCK) and size >= 4:
            if audio_track is None:
                audio_track = _opus_track(doctype, tracks)
            track, track_length = _vint(payload, 0, keep_marker=False)
            if track != audio_track:
                raise AudioError("not_audio", "a block of a track that is not declared")
            if track_length + 3 <= size:
                (relative,) = struct.unpack_from(">h", payload, track_length)
                time = cluster_time + relative
                first_time = min(first_time, time) if blocks else time
                last_time = max(last_time, time) if blocks else time
                blocks += 1
                rest = payload[track_length + 3 :]
                if payload[track_length + 2] & 0x06:  # laced frames (MediaRecorder never
                    # laces): each counted as the longest an Opus packet can be
                    played += 0.12 * (rest[0] + 1 if rest else 1)
                    last_packet = b""
                elif rest:
                    played += _opus_packet_seconds(rest[:2])
                    last_packet = rest[:2]
                if played > limit:
                    break
        offset = body + size
    if audio_track is None:
        _opus_track(doctype, tracks)  # (what is wrong with it, if anything)
        return AudioInfo("webm", "opus", 0.0, len(data))
    tail = _opus_packet_seconds(last_packet) if last_packet else 0.12
    stamped = (last_time - min(first_time, 0)) * scale / 1e9 + tail if blocks else 0.0
    return AudioInfo("webm", "opus", max(stamped, played), len(data))


def _opus_track(doctype: str, tracks: list[dict[str, object]]) -> int:
    """The number of the recording's one track, which must be Opus audio, as browsers record
    it (a second track would be played, and billed, too)."""
    if doctype not in ("webm", "matroska"):
        raise AudioError("not_audio", "EBML that is not WebM")
    if any(track.get("type") == 1 for track in tracks):
        raise AudioError("unsupported_format", "a video recording")
    if not tracks or tracks[0].get("type") != 2:
        raise AudioError("not_audio", "WebM without an audio track")
    if len(tracks) > 1:
        raise AudioError("unsupported_format", "WebM of several tracks")
    track = tracks[0]
    if track.get("codec") != "A_OPUS" or track.get("encoded"):
        raise AudioError("unsupported_format", "WebM audio that is not plain Opus")
    number = track.get("number")
    return number if isinstance(number, int) else 1


_OPUS_FRAME_MS = (10, 20, 40, 60)  # SILK configurations, by config % 4
_CELT_FRAME_MS = (2.5, 5, 10, 20)


def _opus_packet_seconds(packet: bytes) -> float:
    """The length of one Opus packet, from its TOC byte (RFC 6716, section 3.1)."""
    toc = packet[0]
    config = toc >> 3
    if config < 12:
        frame_ms: float = _OPUS_FRAME_MS[config % 4]
    elif config < 16:
        frame_ms = 10 if config % 2 == 0 else 20
    else:
        frame_ms = _CELT_FRAME_MS[config % 4]
    code = toc & 0x03
    frames = (
        1 if code == 0 else 2 if code in (1, 2) else (packet[1] & 0x3F if len(packet) > 1 else 1)
    )
    return frame_ms * frames / 1000


# -- MP3 ----------------------------------------------------------------------------------
_MP3_BITRATES = {  # kbit/s by (MPEG-1?, layer) and index 1..14
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_BITRATES[(False, 3)] = _MP3_BITRATES[(False, 2)]
_INFO_TAGS = (b"Xing", b"Info", b"VBRI")  # the encoder's summary in a first, silent frame
_MP3_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}


def _mp3_frame(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(frame length in bytes, samples, sample rate) of the MP3 frame header at `offset`."""
    if offset + 4 > len(data) or data[offset] != 0xFF or data[offset + 1] & 0xE0 != 0xE0:
        return None
    header = int.from_bytes(data[offset : offset + 4], "big")
    version = (header >> 19) & 0x3
    layer = 4 - ((header >> 17) & 0x3)
    bitrate_index = (header >> 12) & 0xF
    rate_index = (header >> 10) & 0x3
    padding = (header >> 9) & 0x1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[(mpeg1, layer)][bitrate_index - 1] * 1000
    rate = _MP3_RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384, rate
    samples = 1152 if layer == 2 or mpeg1 else 576
    return samples // 8 * bitrate // rate + padding, samples, rate


def _mp3(data: bytes, limit: float) -> AudioInfo:
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:  # syncsafe
            size = (size << 7) | (byte & 0x7F)
        offset = 10 + size + (10 if data[5] & 0x10 else 0)
    seconds = 0.0
    covered = 0
    for _ in range(MAX_STEPS):
        frame = _mp3_frame(data, offset)
        if frame is None:
            break
        length, samples, rate = frame
        if offset + length > len(data):
            break  # a frame cut at the end
        first = not covered
        if not (first and any(tag in data[offset : offset + length] for tag in _INFO_TAGS)):
            seconds += samples / rate  # (an encoder's info frame at the start is no audio)
        covered += length
        offset += length
        if seconds > limit:
            return AudioInfo("mp3", "mp3", seconds, len(data))
    else:
        raise AudioError("not_audio", "too many MP3 frames")
    rest = data[offset:]
    if covered == 0:
        raise AudioError("empty_audio" if not rest else "not_audio", "no MP3 frames")
    # After the frames: nothing, an ID3v1 tag, or a last frame cut short. Anything else may
    # hide more frames that a decoder would find and play.
    cut_frame = _mp3_frame(data, offset) is not None
    if rest and not cut_frame and not (rest[:3] == b"TAG" and len(rest) == 128):
        raise AudioError("not_audio", "bytes that are not MP3 frames")
    return AudioInfo("mp3", "mp3", seconds, len(data))
