"""Typewriter chunks of a step's text, and where its drawings fall among them.

A chunk ends at a word boundary (after the spaces that follow a word), never inside a LaTeX
span (`$...$` or `$$...$$`, which the client renders only once complete), and the chunks of a
step, joined, are exactly its content. A word or formula longer than the target is one chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# $$...$$ first, then $...$; a backslash-escaped dollar (\$) is a literal dollar sign.
_LATEX = re.compile(r"(?<!\\)\$\$.+?(?<!\\)\$\$|(?<!\\)\$(?!\$).+?(?<!\\)\$", re.DOTALL)


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int  # offset of the first character in the content
    end: int  # offset just past the last character (the `position` sent to the client)


def latex_spans(content: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _LATEX.finditer(content)]


def _break_points(content: str) -> list[int]:
    """Offsets where a chunk may end: after the whitespace that follows a word, outside LaTeX."""
    spans = latex_spans(content)
    inside = bytearray(len(content) + 1)
    for start, end in spans:
        for index in range(start + 1, end):
            inside[index] = 1
    points = []
    for index in range(1, len(content)):
        if inside[index]:
            continue
        if content[index - 1].isspace() and not content[index].isspace():
            points.append(index)
    points.append(len(content))
    return points


def split_into_chunks(content: str, target: int = 12) -> list[Chunk]:
    """Chunks of about `target` characters (at least one word each)."""
    if target < 1:
        raise ValueError("target must be positive")
    chunks: list[Chunk] = []
    start = 0
    candidates = _break_points(content)
    index = 0
    while start < len(content):
        # The furthest break point within the target; else the first one after it.
        end = None
        while index < len(candidates) and candidates[index] <= start:
            index += 1
        probe = index
        while probe < len(candidates) and candidates[probe] - start <= target:
            end = candidates[probe]
            probe += 1
        if end is None:
            end = candidates[index] if index < len(candidates) else len(content)
        chunks.append(Chunk(content[start:end], start, end))
        start = end
    return chunks


@lru_cache(maxsize=4096)
def chunks_of(content: str, target: int) -> tuple[Chunk, ...]:
    """`split_into_chunks`, kept for the steps streaming now: many students follow the same
    popular answers, and each resume starts from a step's chunks again."""
    return tuple(split_into_chunks(content, target))


def commands_due(chunk: Chunk, ats: list[int]) -> list[int]:
    """Indexes of the canvas commands whose `at` falls within this chunk (the first chunk also
    takes `at` = 0 and the last one anything at or past the end)."""
    return [
        index
        for index, at in enumerate(ats)
        if (chunk.start < at <= chunk.end) or (at == 0 and chunk.start == 0)
    ]
