"""Question normalization and hashing (the seed's QuestionService.normalize_text/generate_hash).

The seed's rules: lowercase, strip accents, trim spaces, remove extra punctuation. Two
questions that differ only in those respects share one hash and so one stored answer.

What must NOT collapse is mathematics: `x^2` and `x^3`, `2+3` and `2-3`, `f'(x)` and `f(x)`,
`2.5` and `25`, `5!` and `5` stay distinct. So operators, brackets, primes, decimal points
and factorials are kept, sentence punctuation is dropped, and spaces around operators and just
inside brackets are removed so `x ^ 2` and `x^2` agree. `ñ` is a letter of its own in Spanish,
not an accented `n` (`año` and `ano` are different questions), so it is kept.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Unicode spellings of the same mathematics, mapped before anything else.
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ", "0123456789+-()n")
_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
_SYMBOLS = str.maketrans(
    {
        "−": "-",  # minus sign
        "–": "-",
        "—": "-",
        "×": "*",
        "·": "*",
        "⋅": "*",
        "÷": "/",
        "∕": "/",
        "′": "'",  # prime
        "″": "''",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
        "…": "...",
        "\u00a0": " ",
    }
)
_SUPERSCRIPT_RUN = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ]+")
_SUBSCRIPT_RUN = re.compile(r"[₀₁₂₃₄₅₆₇₈₉]+")

# Combining marks removed by "strip accents"; U+0303 (tilde) is kept only on n (ñ).
_TILDE = "\u0303"

_OPERATORS = r"+\-*/^=<>|_"
_SPACE_AROUND_OPERATOR = re.compile(rf"\s*(!=|[{_OPERATORS}])\s*")
_SPACE_INSIDE_BRACKETS = re.compile(r"([(\[{])\s+|\s+([)\]}])")
_WHITESPACE = re.compile(r"\s+")

# Sentence punctuation: always dropped.
_ALWAYS_DROP = re.compile(r"[¿¡?;\"`´¨]")
# Period, comma and colon are kept only between digits (2.5, 2,5 and 3:4).
_DECIMAL_MARK = re.compile(r"(?<!\d)[.,:]|[.,:](?!\d)")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = []
    for index, char in enumerate(decomposed):
        if unicodedata.combining(char):
            if char == _TILDE and index > 0 and decomposed[index - 1] == "n":
                kept.append(char)
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


_LAST_WORD = re.compile(r"[^\W_]+$")


def _is_one_letter_name(before: str) -> bool:
    word = _LAST_WORD.search(before)
    return word is not None and len(word.group()) == 1


def _drop_quotes(text: str) -> str:
    """An apostrophe is a prime after a one-letter name, a bracket or another prime (f'(x),
    y'', (x^2)'); otherwise it is a quotation mark and becomes a space."""
    out: list[str] = []
    for char in text:
        if char == "'":
            before = "".join(out)
            if not (before and (before[-1] in "')]}" or _is_one_letter_name(before))):
                char = " "
        out.append(char)
    return "".join(out)


def _drop_exclamations(text: str) -> str:
    """`!` is kept as a factorial after a digit, a closing bracket, a prime, another `!` or a
    one-letter name (5!, (n+1)!, n!) and as part of `!=`; otherwise it closes an exclamation
    and becomes a space. Dropped characters become spaces so words never merge."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "!":
            before = "".join(out)
            is_operator = text[index + 1 : index + 2] == "="
            is_factorial = bool(before) and (
                before[-1].isdigit() or before[-1] in ")]}!'" or _is_one_letter_name(before)
            )
            if not (is_operator or is_factorial):
                char = " "
        out.append(char)
    return "".join(out)


def normalize_text(text: str) -> str:
    """Normalized form of a question; empty only when the input has no visible character."""
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), text)
    text = _SUBSCRIPT_RUN.sub(lambda m: "_" + m.group().translate(_SUBSCRIPTS), text)
    text = text.translate(_SYMBOLS)
    text = unicodedata.normalize("NFKC", text)
    text = text.casefold()
    text = _strip_accents(text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    fallback = _WHITESPACE.sub(" ", text).strip()

    text = _ALWAYS_DROP.sub(" ", text)
    text = _DECIMAL_MARK.sub(" ", text)
    text = _drop_quotes(text)
    text = _drop_exclamations(text)
    text = _SPACE_AROUND_OPERATOR.sub(r"\1", text)
    text = _SPACE_INSIDE_BRACKETS.sub(lambda m: m.group(1) or m.group(2), text)
    text = _WHITESPACE.sub(" ", text).strip()
    # Only punctuation ("¿?"): keep it rather than hash every such input to the same "".
    return text or fallback


def generate_hash(text: str) -> str:
    """SHA256 (hex) of the normalized text: the key of `ai_answers` and `answer_cache:{hash}`."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
