"""Question normalization and hashing (the seed's QuestionService.normalize_text/generate_hash).

The seed's rules: lowercase, strip accents, trim spaces, remove extra punctuation. Two
questions that differ only in those respects share one hash and so one stored answer.

What must NOT collapse is mathematics: `x^2` and `x^3`, `2+3` and `2-3`, `f'(x)` and `f(x)`,
`2.5` and `25`, `5!` and `5` stay distinct. So operators, brackets, primes, decimal points
and factorials are kept, superscripts and subscripts become `^` and `_`, only the accents of
Spanish are stripped (ẋ, x̄ and v⃗ keep their marks), sentence punctuation is dropped, and spaces
around operators and just inside brackets are removed so `x ^ 2` and `x^2` agree. `ñ` is a
letter of its own in Spanish, not an accented `n` (`año` and `ano` are different questions).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Unicode spellings of the same mathematics, mapped before and after NFKC (NFKC itself turns
# some symbols into others of this table: ‴ into ′′′, ㎧ into m∕s).
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
        "≤": "<=",
        "≥": ">=",
        "′": "'",  # prime
        "″": "''",
        "‴": "'''",
        "⁗": "''''",
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
# Spanish ordinals (1º, 2ª) are written with superscript letters but are not exponents.
_ORDINALS = {"º", "ª"}

# The accents that "strip accents" removes: acute, grave, circumflex, diaeresis, and the tilde
# except on n (ñ). Other combining marks carry mathematical meaning and are kept.
_ACCENTS = {"\u0300", "\u0301", "\u0302", "\u0308"}
_TILDE = "\u0303"

_OPERATORS = r"+\-*/^=<>|_≠"
_SPACE_AROUND_OPERATOR = re.compile(rf"\s*([{_OPERATORS}])\s*")
_SPACE_INSIDE_BRACKETS = re.compile(r"([(\[{])\s+|\s+([)\]}])")
_WHITESPACE = re.compile(r"\s+")

# Sentence punctuation: always dropped.
_ALWAYS_DROP = re.compile(r"[¿¡?;\"`´¨]")

_LAST_WORD = re.compile(r"[^\W_]+$")
_FIRST_WORD = re.compile(r"^[^\W_]+")


def _script_tag(char: str) -> str | None:
    if char in _ORDINALS:
        return None
    decomposition = unicodedata.decomposition(char)
    if decomposition.startswith("<super>"):
        return "^"
    if decomposition.startswith("<sub>"):
        return "_"
    return None


def _mark_scripts(text: str) -> str:
    """x² → x^2, xᵢ → x_i, 2ˣ → 2^x: superscripts and subscripts keep their meaning."""
    out: list[str] = []
    index = 0
    while index < len(text):
        tag = _script_tag(text[index])
        if tag is None:
            out.append(text[index])
            index += 1
            continue
        end = index
        while end < len(text) and _script_tag(text[end]) == tag:
            end += 1
        out.append(tag + unicodedata.normalize("NFKC", text[index:end]))
        index = end
    return "".join(out)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = []
    for index, char in enumerate(decomposed):
        if char in _ACCENTS:
            continue
        if char == _TILDE and not (index > 0 and decomposed[index - 1] == "n"):
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _is_one_letter_name(before: str) -> bool:
    word = _LAST_WORD.search(before)
    return word is not None and len(word.group()) == 1


def _drop_stray_marks(text: str) -> str:
    """`.`, `,` and `:` end sentences, except in numbers and between one-character names:
    2.5, 2,5, .5, 3:4, x:y, a,b and u.v are kept. Dropped marks become spaces."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char in ".,:":
            before, after = text[:index], text[index + 1 :]
            prev, nxt = before[-1:], after[:1]
            last, first = _LAST_WORD.search(before), _FIRST_WORD.search(after)
            keep = (
                (prev.isdigit() and nxt.isdigit())
                or (char == "." and nxt.isdigit() and not prev.isalnum())
                or (
                    last is not None
                    and first is not None
                    and len(last.group()) == 1
                    and len(first.group()) == 1
                )
            )
            if not keep:
                char = " "
        out.append(char)
    return "".join(out)


def _drop_quotes(text: str) -> str:
    """An apostrophe is a prime after a one-letter name, a bracket or another prime (f'(x),
    y'', (x^2)'), or before an argument list (sen'(x)); otherwise it is a quotation mark and
    becomes a space."""
    out: list[str] = []
    for index, char in enumerate(text):
        if char == "'":
            before = "".join(out)
            is_prime = bool(before) and (
                before[-1] in "')]}"
                or _is_one_letter_name(before)
                or (before[-1].isalnum() and text[index + 1 : index + 2] == "(")
            )
            if not is_prime:
                char = " "
        out.append(char)
    return "".join(out)


def _drop_exclamations(text: str) -> str:
    """`!` is kept as a factorial after a digit, a closing bracket, a prime, another `!` or a
    one-letter name (5!, (n+1)!, n!); otherwise it closes an exclamation and becomes a space,
    so words never merge."""
    out: list[str] = []
    for char in text:
        if char == "!":
            before = "".join(out)
            is_factorial = bool(before) and (
                before[-1].isdigit() or before[-1] in ")]}!'" or _is_one_letter_name(before)
            )
            if not is_factorial:
                char = " "
        out.append(char)
    return "".join(out)


def _tighten_operators(text: str) -> str:
    """No spaces around operators (x ^ 2 is x^2), except one between a factorial and `=`, so
    `5! = 120` never reads as `5 != 120` (which is `5≠120`)."""

    def replace(match: re.Match[str]) -> str:
        operator = match.group(1)
        after_factorial = text[match.start() - 1 : match.start()] == "!"
        if operator == "=" and after_factorial and match.group(0)[0].isspace():
            return " ="
        return operator

    return _SPACE_AROUND_OPERATOR.sub(replace, text)


def normalize_text(text: str) -> str:
    """Normalized form of a question; never empty for input with a non-space character."""
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    original = text
    text = _mark_scripts(text).translate(_SYMBOLS)
    text = unicodedata.normalize("NFKC", text).translate(_SYMBOLS)
    text = text.casefold()
    text = _strip_accents(text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    fallback = _WHITESPACE.sub(" ", text).strip()

    text = text.replace("!=", "≠")
    text = _ALWAYS_DROP.sub(" ", text)
    text = _drop_stray_marks(text)
    text = _drop_quotes(text)
    text = _drop_exclamations(text)
    text = _tighten_operators(text)
    text = _SPACE_INSIDE_BRACKETS.sub(lambda m: m.group(1) or m.group(2), text)
    text = _WHITESPACE.sub(" ", text).strip()
    if text:
        return text
    if fallback:  # only punctuation ("¿?"): keep it rather than hash it to ""
        return fallback
    # Only invisible characters or bare accents: name them, so they neither vanish nor collide.
    return " ".join(f"u+{ord(char):04x}" for char in original.strip())


def generate_hash(text: str) -> str:
    """SHA256 (hex) of the normalized text: the key of `ai_answers` and `answer_cache:{hash}`."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def follow_up_hash(lesson_hash: str, step_number: int, question: str) -> str:
    """The key of a follow-up question's short answer: the same doubt on the same step of the
    same lesson is answered once."""
    key = f"follow-up:{lesson_hash}:{step_number}:{normalize_text(question)}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
