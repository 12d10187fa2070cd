"""Checks, with SymPy and in bounded time, the mathematics a lesson step states.

A step's `content` (see `app.models.answer.AnswerStep`) is Spanish prose with LaTeX in `$...$`,
`$$...$$`, `\\(...\\)` or `\\[...\\]`. Before a step written by the LLM is shown, `check_step`
finds in it the claims a machine can decide and reports the false ones:

- equalities `A = B = C` between numbers (`2 + 3 \\cdot 4 = 14`, `\\sqrt{16} = 4`) and between
  expressions with variables that are meant as identities (`(x+1)^2 = x^2 + 2x + 1`);
- derivatives: `\\frac{d}{dx}(...) = ...`, `(x^3)' = 3x^2`, `f'(x) = ...` for an `f(x) = ...`
  defined earlier in the step or in the `context` (the earlier steps);
- indefinite integrals (the claimed antiderivative is differentiated) and definite ones;
- limits `\\lim_{x \\to a} ... = L`;
- stated solutions of an equation in one unknown (`x = 2`, `x_1 = 2`, `x = \\pm 3`), and, when
  the text presents them as "las soluciones" or "las raíces", that none is missing.

A wrong alarm discards a good lesson, so every doubt is a skip. The hard case is an equality
whose sides differ as functions: `(x+3)^2 = x^2 + 9` is a false identity but `3x - 2 = x + 4`
is an equation to solve. It is called false only when the prose around it announces an algebraic
manipulation ("desarrollamos", "simplificamos", "factorizamos"...) and nothing in the step or
its context speaks of solving (no "ecuación", "resolvemos", "despejamos", no stated value of
one of its variables); with a number on one side it is always an equation.

The LaTeX is read by a small recursive-descent parser in this module, not by
`sympy.parsing.latex.parse_latex(backend="lark")`: that Earley parser takes 50-300 ms per
expression, returns ambiguous trees for `f(x)`, `x(x+1)` and `\\sin x \\cos x`, does not know
`\\pi` or `\\left(`, and evaluates `2^{2^{100}}` eagerly until the process runs out of memory.
Ours builds SymPy expressions in linear time and refuses oversized numbers while building.

Bounded time: a SymPy call cannot be interrupted inside a greenlet, so each claim is made cheap
instead. Sizes are capped before SymPy sees them (exponents, integer bits, factorials, nodes),
claims are decided by numeric evaluation at sample points (never `simplify`, `solve` or
`integrate`), and the wall-clock budget is checked between claims; what is left when it runs
out is counted as skipped. No exception escapes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import mpmath  # type: ignore[import-untyped]
import sympy  # type: ignore[import-untyped]
from sympy.core.function import AppliedUndef  # type: ignore[import-untyped]

# SymPy ships no type information: its expressions are `Any` to mypy.
Expr = Any


@dataclass(frozen=True)
class StepCheck:
    """What `check_step` found: `checks` decided claims, of which `passes` hold; `failures`
    describes each false one in English; `skipped` claims were found but not decided (not
    parseable, too big, ambiguous, or out of time)."""

    checks: int
    passes: int
    failures: list[str] = field(default_factory=list)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


# --- limits ------------------------------------------------------------------------------------

_MAX_SPAN_CHARS: Final = 3_000
_MAX_PART_TOKENS: Final = 200
_MAX_NODES: Final = 200
_MAX_EXPONENT: Final = 1_000
_MAX_BITS: Final = 20_000  # of an integer built while parsing (2^{1000} has 1 001)
_MAX_DIGITS: Final = 30  # of a number literal
_MAX_FACTORIAL: Final = 1_000
_MAX_BINOMIAL: Final = 10_000
_MAX_SUM_TERMS: Final = 200
_MAX_DEPTH: Final = 40  # nesting of groups while parsing
_MAX_CONTEXT_CHARS: Final = 20_000
_DIGITS: Final = 50  # working precision of numeric evaluation

# Rational sample points for identities: positive, so that square roots and logarithms of the
# usual textbook expressions are real, and irregular, so that no two sides agree by accident.
_SAMPLES: Final = tuple(
    sympy.Rational(numerator, denominator)
    for numerator, denominator in zip(
        (7, 13, 29, 5, 41, 17, 3, 53, 11, 61), (5, 17, 11, 23, 13, 7, 19, 29, 31, 19), strict=True
    )
)

# --- the step's text ---------------------------------------------------------------------------

_SPAN = re.compile(
    r"(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$"
    r"|(?<!\\)\\\[(?P<bracket>.+?)\\\]"
    r"|(?<!\\)\\\((?P<paren>.+?)\\\)"
    r"|(?<![\\$])\$(?P<inline>[^$]+?)(?<!\\)\$",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    tex: str


def _math_spans(text: str) -> list[_Span]:
    spans = []
    for match in _SPAN.finditer(text):
        group = next(name for name in ("display", "bracket", "paren", "inline") if match[name])
        spans.append(_Span(match.start(), match.end(), match[group]))
    return spans


def _fold(text: str) -> str:
    """Lowercase without accents, so that cue words match however the LLM accents them."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _prose(text: str, spans: Sequence[_Span]) -> str:
    """The text with its formulas blanked (same length, so offsets still match)."""
    chars = list(text)
    for span in spans:
        for index in range(span.start, span.end):
            if chars[index] != "\n":
                chars[index] = "\x00"
    return "".join(chars)


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


def _sentence(prose: str, position: int) -> tuple[int, int]:
    start = 0
    for match in _SENTENCE_END.finditer(prose, 0, position):
        start = match.end()
    following = _SENTENCE_END.search(prose, position)
    return start, following.start() if following else len(prose)


# Cue words, matched on folded prose (formulas blanked).
_EQUATION_CUES = re.compile(
    r"ecuacion|resolv|resuelv|despej|solucion|raiz|raices|incognita|iguala|inecuacion|sistema"
    r"|ambos (?:lados|miembros)|para que valor|valor(?:es)? de [a-z]\b|puntos? critic|interse"
    r"|\bcort[ae]|hall[ae]|aisla|transpon|traspon|cuanto vale|\bsatisfac|\bcumpl"
)
# Words that announce an algebraic manipulation, whose result must equal what it started from.
# ("agrupamos", "reducimos", "operamos" are left out: they are as common when solving.)
_IDENTITY_CUES = re.compile(
    r"desarroll|expand|simplific|factoriz|producto notable|binomio|diferencia de cuadrados"
    r"|identidad|equival|racionaliz|distribu|factor comun"
)
_RESULT_CUES = re.compile(
    r"solucion|raiz|raices|por lo tanto|por tanto|entonces|luego|\basi\b|obtenemos|despej"
    r"|queda|resulta|tenemos|es decir|finalmente|conclu|o sea|\bvale\b"
)
_NOT_RESULT_CUES = re.compile(
    r"sustitu|reemplaz|evalu|compro|verific|\bsi\b|cuando|\bpara\b|\ben\b|punto|supon|prob"
    r"|tomamos|\bsea\b|dad[oa]|ejemplo|intent|\bcon\b|vertice|maxim|minim|\beje\b|abscisa"
    r"|simetria|extrem|media|promedio"
)
_HYPOTHETICAL_CUES = re.compile(r"\bsi\b|supon|\bsea\b|dad[oa] que|consider|imagin")
_COMPLEX_CUES = re.compile(r"complej|imaginari")
_ALL_SOLUTIONS_CUES = re.compile(
    r"las soluciones|las raices|soluciones son|raices son|conjunto solucion|ambas soluciones"
    r"|sus soluciones|sus raices"
)
_PARTIAL_SOLUTIONS_CUES = re.compile(
    r"positiv|negativ|natural|entera|intervalo|valida|admisible|descart|complej|dominio"
    r"|mayor|menor|alguna|una de|otra"
)

# --- normalisation and tokens ------------------------------------------------------------------

_UNICODE = {
    "−": "-",
    "–": "-",
    "·": r"\cdot ",
    "⋅": r"\cdot ",
    "×": r"\times ",
    "÷": r"\div ",
    "π": r"\pi ",
    "√": r"\sqrt ",
    "²": "^2",
    "³": "^3",
    "≤": r"\leq ",
    "≥": r"\geq ",
    "≠": r"\neq ",
    "≈": r"\approx ",
    "∞": r"\infty ",
    "°": r"^\circ ",
    "±": r"\pm ",
    "∓": r"\mp ",
    "∫": r"\int ",
    "⇒": r"\Rightarrow ",
    "→": r"\to ",
    "′": "'",
    "″": "''",
    "✓": " ",
    "✔": " ",
    "\u00a0": " ",
    "\u2009": " ",
}
_UNICODE_TABLE = str.maketrans(_UNICODE)

# Function names written without their backslash (`sen(x)`), which would otherwise read as
# products of letters (and `e` as Euler's number).
_BARE_FUNCTIONS = re.compile(
    r"(?<![\\a-zA-Z])(arcsen|arcsin|arccos|arctan|arctg|senh|sinh|cosh|tanh|sen|sin|cos|tan|tg"
    r"|cotg|cot|sec|csc|cosec|ln|log|exp|lim|max|min|mcd|mcm)(?![a-zA-Z])"
)
# `1\,024` is 1024: a thin space groups thousands.
_THIN_THOUSANDS = re.compile(r"(?<![\d.])(\d{1,3})(?:(?:\\[,;: ]|~)(\d{3}))+(?![\d])")
# `1.000` or `1,000`: a Spanish thousands separator or an English decimal point? Undecidable.
_AMBIGUOUS_GROUPING = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:[.,]\d{3})+(?![\d])")
_DECIMAL_COMMA = re.compile(r"(?<![\d.])(\d+),(\d+)(?![\d])")


def _unbox(tex: str) -> str:
    """`\\boxed{x = 3}` as `x = 3`: a boxed result is a claim like any other."""
    while (start := tex.find("\\boxed{")) >= 0:
        content, end = _read_braced(tex, start + len("\\boxed"))
        tex = f"{tex[:start]} {content} {tex[end:]}"
    return tex


def _normalise(tex: str) -> str:
    tex = _unbox(tex.translate(_UNICODE_TABLE))
    tex = _BARE_FUNCTIONS.sub(r"\\\1", tex)
    tex = re.sub(r"(\d)(?:\{,\}|,\\!)(\d)", r"\1.\2", tex)  # 2{,}5 and 2,\!5
    tex = _THIN_THOUSANDS.sub(
        lambda m: re.sub(r"\\[,;: ]|~", "", m.group(0)),
        tex,
    )
    tex = _AMBIGUOUS_GROUPING.sub(r"\\ambiguousnumber ", tex)
    return _DECIMAL_COMMA.sub(r"\1.\2", tex)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num, letter, cmd, text, op, rel, sep, env, other
    text: str
    start: int
    end: int


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SPACING = frozenset(",;:! >")
_IGNORED = _words(
    "left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle "
    "displaystyle textstyle scriptstyle limits nolimits checkmark mathstrut strut nonumber "
    "notag enspace thinspace medspace thickspace negthinspace"
)
_IGNORED_WITH_ARGUMENT = frozenset({"hspace", "vspace", "phantom", "hphantom", "vphantom", "tag"})
_TEXT_COMMANDS = frozenset(
    {"text", "textrm", "textit", "textbf", "textnormal", "mathrm", "mbox", "operatorname"}
)
_SEPARATOR_COMMANDS = _words(
    "Rightarrow Longrightarrow implies Leftrightarrow Longleftrightarrow iff therefore because "
    "quad qquad lor vee land wedge"
)
_ARROW_COMMANDS = frozenset({"to", "rightarrow", "longrightarrow", "mapsto"})
_RELATION_COMMANDS = {
    "neq": "≠",
    "ne": "≠",
    "leq": "≤",
    "le": "≤",
    "leqslant": "≤",
    "geq": "≥",
    "ge": "≥",
    "geqslant": "≥",
    "lt": "<",
    "gt": ">",
    "approx": "≈",
    "equiv": "≡",
    "sim": "≈",
    "simeq": "≈",
    "cong": "≈",
    "propto": "∝",
    "in": "∈",
    "notin": "∉",
    "subset": "⊂",
    "subseteq": "⊂",
}
# `\text{ o }` between two formulas separates them, like a comma.
_CONNECTOR_WORDS = frozenset(
    {
        *_words("o ó y u e ni si entonces luego donde pues con para además ademas también tambien"),
        *("es decir", "así que", "asi que", "por lo tanto", "por tanto"),
        *_words("and or if then where with for"),
    }
)
_ALIGN_ENVIRONMENTS = frozenset(
    {"aligned", "align", "align*", "gathered", "gather", "gather*", "split", "alignedat"}
)
_SINGLE_OPS = frozenset("+-*/^_()[]{}|!'<>,;:&.=")


class _Unsupported(Exception):
    """The text is outside what this module reads, or too big to evaluate safely."""


# Besides ours, what SymPy raises on an odd combination (the limit of a relation, a factorial
# of a matrix...): the part is then unreadable, like any other.
_PARSE_ERRORS = (
    _Unsupported,
    TypeError,
    ValueError,
    ArithmeticError,
    AttributeError,
    IndexError,
    KeyError,
    NotImplementedError,
    RecursionError,
)


def _read_braced(tex: str, index: int) -> tuple[str, int]:
    """The content of the `{...}` group at `index` (after spaces) and the offset past it."""
    while index < len(tex) and tex[index].isspace():
        index += 1
    if index >= len(tex) or tex[index] != "{":
        raise _Unsupported("a braced argument was expected")
    depth = 0
    for position in range(index, len(tex)):
        if tex[position] == "{" and tex[position - 1] != "\\":
            depth += 1
        elif tex[position] == "}" and tex[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return tex[index + 1 : position], position + 1
    raise _Unsupported("unbalanced braces")


def _tokenize(tex: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    index = 0
    while index < len(tex):
        ch = tex[index]
        start = index
        if ch.isspace():
            index += 1
            continue
        if ch == "\\":
            word = re.match(r"\\([a-zA-Z]+\*?)", tex[index:])
            if word is None:
                following = tex[index + 1 : index + 2]
                index += 2
                if following == "\\":
                    tokens.append(_Tok("sep", "newline", start, index))
                elif following == "%":
                    tokens.append(_Tok("cmd", "%", start, index))
                elif following not in _SPACING:
                    tokens.append(_Tok("other", following, start, index))
                continue
            name = word.group(1)
            index += len(word.group(0))
            if name in _IGNORED:
                # `\left.` and `\right.` are invisible delimiters.
                if name in ("left", "right", "middle") and tex[index : index + 1] == ".":
                    index += 1
                continue
            if name in _IGNORED_WITH_ARGUMENT:
                _, index = _read_braced(tex, index)
                continue
            if name in _TEXT_COMMANDS:
                content, index = _read_braced(tex, index)
                if content.strip():
                    tokens.append(_Tok("text", content.strip(), start, index))
                continue
            if name in ("begin", "end"):
                environment, index = _read_braced(tex, index)
                if name == "begin" and environment in ("array", "alignedat"):
                    _, index = _read_braced(tex, index)
                tokens.append(_Tok("env", f"{name}:{environment}", start, index))
                continue
            if name in ("lvert", "rvert", "vert"):
                tokens.append(_Tok("op", "|", start, index))
                continue
            if name in _RELATION_COMMANDS:
                tokens.append(_Tok("rel", _RELATION_COMMANDS[name], start, index))
                continue
            tokens.append(_Tok("cmd", name, start, index))
            continue
        if ch.isdigit() or (ch == "." and tex[index + 1 : index + 2].isdigit()):
            number = re.match(r"\d*\.?\d+|\d+", tex[index:])
            assert number is not None  # the first character is a digit or a point before one
            index += len(number.group(0))
            text = number.group(0)
            tokens.append(_Tok("num", "0" + text if text.startswith(".") else text, start, index))
            continue
        if ch.isascii() and ch.isalpha():
            tokens.append(_Tok("letter", ch, start, index + 1))
            index += 1
            continue
        if ch in _SINGLE_OPS:
            if ch == ":" and tex[index + 1 : index + 2] == "=":
                tokens.append(_Tok("rel", "=", start, index + 2))
                index += 2
                continue
            kind = "rel" if ch in "=<>" else "op"
            tokens.append(_Tok(kind, ch, start, index + 1))
            index += 1
            continue
        tokens.append(_Tok("other", ch, start, index + 1))
        index += 1
    return tokens


_OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass
class _Segment:
    """One chain `part rel part rel part ...` of a formula, between separators."""

    span: int  # index of its span in the step
    parts: list[list[_Tok]]
    relations: list[str]  # "=", "<", "≈"...; "def" once the first one is found to define f(x)


def _segments(tokens: list[_Tok], span: int) -> list[_Segment]:
    """Splits a formula at its separators (`,`, `\\Rightarrow`, `\\text{ o }`, line breaks...)
    and each piece at its relations, outside brackets. In an `aligned` block a line that starts
    with `=` continues the chain of the line above."""
    environments = [t.text.split(":", 1)[1] for t in tokens if t.kind == "env"]
    if any(env not in _ALIGN_ENVIRONMENTS for env in environments):
        raise _Unsupported("cases, matrices and arrays are not read")
    pieces: list[tuple[str, list[_Tok]]] = []
    current: list[_Tok] = []
    opened_by = "start"
    depth = 0
    for token in tokens:
        if token.kind == "env" or (token.kind == "op" and token.text == "&"):
            continue
        if token.kind == "op" and token.text in _OPENERS:
            depth += 1
        elif token.kind == "op" and token.text in (")", "]", "}"):
            depth = max(0, depth - 1)
        is_separator = depth == 0 and (
            token.kind == "sep"
            or (token.kind == "op" and token.text in ",;")
            or (token.kind == "cmd" and token.text in _SEPARATOR_COMMANDS | _ARROW_COMMANDS)
            or (token.kind == "text" and _fold(token.text).strip(" ,.") in _CONNECTOR_WORDS)
        )
        if is_separator:
            pieces.append((opened_by, current))
            current = []
            opened_by = token.text if token.kind == "sep" else "other"
            continue
        current.append(token)
    pieces.append((opened_by, current))

    merged: list[list[_Tok]] = []
    for opened, piece in pieces:
        if opened == "newline" and piece and piece[0].kind == "rel" and merged:
            merged[-1].extend(piece)
        else:
            merged.append(piece)

    segments = []
    for piece in merged:
        parts: list[list[_Tok]] = [[]]
        relations: list[str] = []
        depth = 0
        for token in piece:
            if token.kind == "op" and token.text in _OPENERS:
                depth += 1
            elif token.kind == "op" and token.text in (")", "]", "}"):
                depth = max(0, depth - 1)
            if token.kind == "rel" and depth == 0:
                relations.append(token.text)
                parts.append([])
            else:
                parts[-1].append(token)
        if any(parts):
            segments.append(_Segment(span, parts, relations))
    return segments


# --- the parser --------------------------------------------------------------------------------


def _sym(name: str) -> Expr:
    # Real symbols: |x|, sqrt(x^2) and ln|x| then differentiate and simplify as on paper.
    return sympy.Symbol(name, real=True)


_GREEK = _words(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda "
    "mu nu xi rho varrho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta "
    "Lambda Xi Sigma Phi Psi Omega"
)
_TRIG = {
    "sin": sympy.sin,
    "sen": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "tg": sympy.tan,
    "cot": sympy.cot,
    "cotg": sympy.cot,
    "ctg": sympy.cot,
    "sec": sympy.sec,
    "csc": sympy.csc,
    "cosec": sympy.csc,
}
_INVERSE_TRIG = {"sin": sympy.asin, "cos": sympy.acos, "tan": sympy.atan, "cot": sympy.acot}
_OTHER_FUNCTIONS: dict[str, Callable[[Expr], Expr]] = {
    "arcsin": sympy.asin,
    "arcsen": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "arctg": sympy.atan,
    "sinh": sympy.sinh,
    "senh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "exp": sympy.exp,
    "ln": sympy.log,
}
_FUNCTION_NAMES = frozenset({*_TRIG, *_OTHER_FUNCTIONS, "log"})
# Letters that name functions when followed by `(`; any other letter multiplies: `x(x+1)`.
_FUNCTION_LETTERS = frozenset("fghFGHPQpqACNRSTVL")
_WRAPPERS = frozenset(
    {"boxed", "mathbf", "boldsymbol", "bm", "mathit", "underline", "cancel", "bcancel", "xcancel"}
)
# Commands that start a factor, so that `2\sqrt{2}` or `3\pi` multiply.
_FACTOR_COMMANDS = frozenset(
    {
        *_words("frac dfrac tfrac cfrac sqrt pi infty int lim sum prod binom dbinom tbinom"),
        *_words("lfloor lceil underbrace overbrace textcolor color partial"),
        *_WRAPPERS,
        *_GREEK,
        *_FUNCTION_NAMES,
    }
)


@dataclass
class _Env:
    """Definitions seen so far: `f(x) = ...` and `y = ...` (for `y'` and `dy/dx`)."""

    functions: dict[str, tuple[Expr, Expr]] = field(default_factory=dict)
    letters: dict[str, Expr] = field(default_factory=dict)
    # Names whose latest definition is in an earlier step, not in the step being checked.
    from_context: set[str] = field(default_factory=set)
    numbers: _Numbers = field(default_factory=lambda: _Numbers())


class _Parser:
    """Reads one part of a chain into a SymPy expression, or raises `_Unsupported`."""

    def __init__(self, tokens: Sequence[_Tok], env: _Env, *, pm_sign: int, log10: bool) -> None:
        self.tokens = tokens
        self.index = 0
        self.env = env
        self.pm_sign = pm_sign
        self.log10 = log10
        self.depth = 0
        self.abs_depth = 0
        self.trig_depth = 0
        # What the part contained, for the judge.
        self.saw_pm = False
        self.saw_bare_log = False
        self.decimals = 0
        self.bare_degrees = False
        self.explicit_derivative = False
        self.named_derivative = False
        self.used_context = False

    # token helpers

    def _peek(self, offset: int = 0) -> _Tok | None:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def _at(self, kind: str, text: str | None = None, offset: int = 0) -> bool:
        token = self._peek(offset)
        return token is not None and token.kind == kind and (text is None or token.text == text)

    def _next(self) -> _Tok:
        token = self._peek()
        if token is None:
            raise _Unsupported("unexpected end")
        self.index += 1
        return token

    def _expect(self, kind: str, text: str) -> None:
        if not self._at(kind, text):
            raise _Unsupported(f"expected {text}")
        self.index += 1

    def _child(self, tokens: Sequence[_Tok]) -> _Parser:
        child = _Parser(tokens, self.env, pm_sign=self.pm_sign, log10=self.log10)
        child.depth = self.depth + 1
        child.trig_depth = self.trig_depth
        return child

    def _absorb(self, child: _Parser) -> None:
        self.saw_pm |= child.saw_pm
        self.saw_bare_log |= child.saw_bare_log
        self.decimals = max(self.decimals, child.decimals)
        self.bare_degrees |= child.bare_degrees
        self.explicit_derivative |= child.explicit_derivative
        self.named_derivative |= child.named_derivative
        self.used_context |= child.used_context

    def _definition(self, name: str) -> tuple[Expr, Expr]:
        self.used_context |= name in self.env.from_context
        return self.env.functions[name]

    def _sub_parse(self, tokens: Sequence[_Tok]) -> Expr:
        child = self._child(tokens)
        value = child.part()
        self._absorb(child)
        return value

    def _braced_tokens(self) -> list[_Tok]:
        """The tokens inside the `{...}` group that starts here, consuming it."""
        if not self._at("op", "{"):
            raise _Unsupported("expected {")
        depth = 0
        for position in range(self.index, len(self.tokens)):
            token = self.tokens[position]
            if token.kind == "op" and token.text == "{":
                depth += 1
            elif token.kind == "op" and token.text == "}":
                depth -= 1
                if depth == 0:
                    inside = list(self.tokens[self.index + 1 : position])
                    self.index = position + 1
                    return inside
        raise _Unsupported("unbalanced braces")

    # grammar

    def part(self) -> Expr:
        value = self.expr()
        # `F(x) \Big|_a^b`: an evaluation bar closes the whole expression.
        if self._at("op", "|") and (self._at("op", "_", 1) or self._at("op", "^", 1)):
            self.index += 1
            value = self._evaluation_bar(value)
        if self._peek() is not None:
            raise _Unsupported(f"unexpected {self._peek()}")
        return value

    def expr(self) -> Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Unsupported("nested too deeply")
        value = self.term()
        while True:
            if self._at("op", "+"):
                self.index += 1
                value = value + self.term()
            elif self._at("op", "-"):
                self.index += 1
                value = value - self.term()
            elif self._at("cmd", "pm") or self._at("cmd", "mp"):
                sign = self._pm_sign(self._next())
                value = value + sign * self.term()
            else:
                break
        self.depth -= 1
        return value

    def _pm_sign(self, token: _Tok) -> int:
        self.saw_pm = True
        return self.pm_sign if token.text == "pm" else -self.pm_sign

    def term(self) -> Expr:
        value = self.unary()
        while True:
            token = self._peek()
            if token is None:
                break
            if (token.kind == "op" and token.text == "*") or (
                token.kind == "cmd" and token.text in ("cdot", "times", "ast")
            ):
                self.index += 1
                value = value * self.unary()
            elif (token.kind == "op" and token.text in "/:") or (
                token.kind == "cmd" and token.text == "div"
            ):
                self.index += 1
                value = value / self.unary()
            elif self._starts_factor(token):
                previous = self.tokens[self.index - 1]
                if token.kind == "num" and previous.kind == "num":
                    raise _Unsupported("two numbers side by side")
                if previous.kind == "num" and token.kind == "cmd" and "frac" in token.text:
                    # `2\frac{1}{2}` is a mixed number (5/2) in Spanish schools, not a product.
                    raise _Unsupported("mixed number")
                value = value * self.power()
            else:
                break
        return value

    def _starts_factor(self, token: _Tok) -> bool:
        if token.kind in ("num", "letter"):
            return True
        if token.kind == "op":
            if token.text == "|":
                # Inside |...| a bar closes; outside it opens, unless it is an evaluation bar.
                return self.abs_depth == 0 and not (
                    self._at("op", "_", 1) or self._at("op", "^", 1)
                )
            return token.text in "(["
        if token.kind == "text":
            return token.text.removeprefix("\\") in ("e", *_FUNCTION_NAMES)
        return token.kind == "cmd" and token.text in _FACTOR_COMMANDS

    def unary(self) -> Expr:
        if self._at("op", "-"):
            self.index += 1
            return -self.unary()
        if self._at("op", "+"):
            self.index += 1
            return self.unary()
        if self._at("cmd", "pm") or self._at("cmd", "mp"):
            return self._pm_sign(self._next()) * self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        if not self._at("op", "^"):
            return base
        self.index += 1
        if self._at("cmd", "circ") or (
            self._at("op", "{") and self._at("cmd", "circ", 1) and self._at("op", "}", 2)
        ):
            self.index += 1 if self._at("cmd", "circ") else 3
            if self.trig_depth == 0:
                self.bare_degrees = True
            return base * sympy.pi / 180
        exponent = self._script()
        if self._at("op", "^"):
            raise _Unsupported("double superscript")
        return self._pow(base, exponent)

    def _script(self) -> Expr:
        """The argument of `^` or `_`: a braced group or one token (`x^2`, `x^{10}`)."""
        if self._at("op", "{"):
            return self._sub_parse(self._braced_tokens())
        token = self._next()
        if token.kind == "num":
            if len(token.text) > 1:
                # `2^10` renders as 2¹0, not 2¹⁰: the text is wrong whatever it meant.
                raise _Unsupported("unbraced multi-digit script")
            return sympy.Integer(token.text)
        if token.kind == "letter":
            return sympy.E if token.text == "e" else _sym(token.text)
        if token.kind == "cmd" and token.text in _GREEK | {"pi", "infty"}:
            return self._constant(token.text)
        raise _Unsupported("unreadable script")

    def _pow(self, base: Expr, exponent: Expr) -> Expr:
        if exponent.is_Number:
            if abs(exponent) > _MAX_EXPONENT:
                raise _Unsupported("exponent too big")
            if base.is_Rational and exponent.is_Rational and base != 0:
                size = abs(exponent.p) * (
                    math.log2(abs(base.p) + 1) + math.log2(abs(base.q) + 1) + 1
                )
                if size > _MAX_BITS:
                    raise _Unsupported("power too big")
        elif exponent.is_number and base.is_number:
            size = self.env.numbers.value(exponent)
            if size is None or abs(size) > _MAX_EXPONENT:
                raise _Unsupported("exponent too big")
        if base.is_Number and base < 0 and exponent.is_Rational and exponent.q % 2 == 1:
            # (-8)^{1/3} = -2: the real root, not SymPy's principal complex one.
            return sympy.real_root(base, exponent.q) ** exponent.p
        return sympy.Pow(base, exponent)

    def postfix(self) -> Expr:
        start = self.index
        value = self.primary()
        is_group = self.tokens[start].kind == "op" and self.tokens[start].text in "(["
        while True:
            if self._at("op", "!"):
                self.index += 1
                value = self._factorial(value)
            elif self._at("op", "'") and is_group:
                order = self._primes()
                value = self._group_derivative(value, order)
            elif self._at("cmd", "%"):
                self.index += 1
                value = value / 100
            elif is_group and self._at("op", "_") and self.tokens[start].text == "[":
                value = self._evaluation_bar(value)
            else:
                return value

    def _primes(self) -> int:
        count = 0
        while self._at("op", "'"):
            self.index += 1
            count += 1
        return count

    def _factorial(self, value: Expr) -> Expr:
        if value.is_Number and (not value.is_Integer or value < 0 or value > _MAX_FACTORIAL):
            raise _Unsupported("factorial out of range")
        return sympy.factorial(value)

    def _group_derivative(self, value: Expr, order: int) -> Expr:
        variables = sorted(value.free_symbols, key=lambda s: s.name)
        if len(variables) != 1:
            names = [s for s in variables if s.name == "x"]
            if not names:
                raise _Unsupported("derivative with respect to what?")
            variables = names
        self.explicit_derivative = True
        return sympy.Derivative(value, (variables[0], order))

    def _evaluation_bar(self, value: Expr) -> Expr:
        """`[F(x)]_a^b` or `F(x) |_a^b`, that is F(b) - F(a)."""
        lower, upper = self._bounds()
        if lower is None or upper is None:
            raise _Unsupported("evaluation bar without both bounds")
        variables = value.free_symbols
        if len(variables) != 1:
            raise _Unsupported("evaluation bar over several variables")
        (variable,) = variables
        return value.xreplace({variable: upper}) - value.xreplace({variable: lower})

    def primary(self) -> Expr:
        token = self._next()
        if token.kind == "num":
            return self._number(token.text)
        if token.kind == "letter":
            return self._letter(token)
        if token.kind == "op":
            if token.text in _OPENERS:
                closer = _OPENERS[token.text]
                value = self._enclosed(closer)
                return value
            if token.text == "|":
                self.abs_depth += 1
                value = self.expr()
                self._expect("op", "|")
                self.abs_depth -= 1
                return sympy.Abs(value)
        if token.kind == "text":
            return self._text(token.text)
        if token.kind == "cmd":
            return self._command(token.text)
        raise _Unsupported(f"cannot read {token.text!r}")

    def _enclosed(self, closer: str) -> Expr:
        depth = 0
        for position in range(self.index, len(self.tokens)):
            token = self.tokens[position]
            if token.kind == "op" and token.text in _OPENERS:
                depth += 1
            elif token.kind == "op" and token.text in (")", "]", "}"):
                if depth == 0:
                    if token.text != closer:
                        raise _Unsupported("mismatched brackets")
                    inside = self.tokens[self.index : position]
                    self.index = position + 1
                    return self._sub_parse(inside)
                depth -= 1
        raise _Unsupported("unclosed bracket")

    def _number(self, text: str) -> Expr:
        if len(text.replace(".", "")) > _MAX_DIGITS:
            raise _Unsupported("number too long")
        if "." in text:
            self.decimals = max(self.decimals, len(text.split(".", 1)[1]))
        return sympy.Rational(text)

    def _letter(self, token: _Tok) -> Expr:
        name = token.text
        subscript = None
        if self._at("op", "_"):
            self.index += 1
            subscript = self._script_name()
        order = self._primes()
        if subscript is not None:
            if order:
                raise _Unsupported("primed subscripted symbol")
            return _sym(f"{name}_{subscript}")
        if order:
            return self._named_derivative(name, order)
        if (
            name == "d"
            and self._at("letter")
            and self._at("op", "/", 1)
            and self._at("letter", "d", 2)
            and self._at("letter", offset=3)
        ):
            # dy/dx
            function = self._next().text
            self.index += 2
            variable = _sym(self._next().text)
            return self._derivative_of_letter(function, variable, 1)
        if self._at("op", "(") and name in self.env.functions:
            self.index += 1
            argument = self._enclosed(")")
            variable, body = self._definition(name)
            return body.xreplace({variable: argument})
        if self._at("op", "(") and name in _FUNCTION_LETTERS:
            self.index += 1
            argument = self._enclosed(")")
            return sympy.Function(name)(argument)
        if name == "e":
            return sympy.E
        return _sym(name)

    def _script_name(self) -> str:
        if self._at("op", "{"):
            inside = self._braced_tokens()
            if not inside or any(t.kind not in ("num", "letter", "op") for t in inside):
                raise _Unsupported("unreadable subscript")
            return "".join(t.text for t in inside)
        token = self._next()
        if token.kind == "num":
            if len(token.text) > 1:
                raise _Unsupported("unbraced multi-digit subscript")
            return token.text
        if token.kind == "letter":
            return token.text
        raise _Unsupported("unreadable subscript")

    def _named_derivative(self, name: str, order: int) -> Expr:
        """`f'(x)`, `f''(2)`, `y'`."""
        if self._at("op", "("):
            self.index += 1
            argument = self._enclosed(")")
            if name not in self.env.functions:
                return sympy.Function(name + "'" * order)(argument)
            variable, body = self._definition(name)
            self.named_derivative = True
            if argument == variable:
                return sympy.Derivative(body, (variable, order))
            return sympy.diff(body, variable, order).xreplace({variable: argument})
        return self._derivative_of_letter(name, _sym("x"), order)

    def _derivative_of_letter(self, name: str, variable: Expr, order: int) -> Expr:
        self.named_derivative = True
        if name in self.env.functions:
            own_variable, body = self._definition(name)
            return sympy.Derivative(body.xreplace({own_variable: variable}), (variable, order))
        if name in self.env.letters:
            self.used_context |= name in self.env.from_context
            return sympy.Derivative(self.env.letters[name], (variable, order))
        return sympy.Function(name + "'" * order)(variable)

    def _text(self, text: str) -> Expr:
        text = text.removeprefix("\\")  # `\operatorname{sen}` after `sen` got its backslash
        if text == "e":
            return sympy.E
        if text in _FUNCTION_NAMES:
            return self._function(text)
        # Units and words (`5\text{ cm}`): the part is not pure mathematics.
        raise _Unsupported(f"text {text!r}")

    def _constant(self, name: str) -> Expr:
        if name == "pi":
            return sympy.pi
        if name == "infty":
            return sympy.oo
        return _sym(name.removeprefix("var"))

    def _command(self, name: str) -> Expr:
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            return self._fraction()
        if name == "sqrt":
            index = None
            if self._at("op", "["):
                self.index += 1
                index = self._enclosed("]")
            radicand = self._argument()
            if index is None:
                return sympy.sqrt(radicand)
            if index.is_Integer and index % 2 == 1:
                # An odd root is the real one at school: \sqrt[3]{-8} = -2.
                return sympy.sign(radicand) * self._pow(sympy.Abs(radicand), 1 / index)
            return sympy.root(radicand, index)
        if name in _FUNCTION_NAMES:
            return self._function(name)
        if name in _GREEK or name in ("pi", "infty"):
            return self._constant(name)
        if name == "int":
            return self._integral()
        if name == "lim":
            return self._limit()
        if name in ("sum", "prod"):
            return self._sum(name)
        if name in ("binom", "dbinom", "tbinom"):
            top, bottom = self._argument(), self._argument()
            for value in (top, bottom):
                if value.is_Number and abs(value) > _MAX_BINOMIAL:
                    raise _Unsupported("binomial too big")
            return sympy.binomial(top, bottom)
        if name in _WRAPPERS:
            return self._sub_parse(self._braced_tokens())
        if name in ("underbrace", "overbrace"):
            value = self._sub_parse(self._braced_tokens())
            if self._at("op", "_") or self._at("op", "^"):
                self.index += 1
                if self._at("op", "{"):
                    self._braced_tokens()
                else:
                    self._next()
            return value
        if name == "textcolor":
            self._braced_tokens()
            return self._sub_parse(self._braced_tokens())
        if name == "color":
            self._braced_tokens()
            return self.primary()
        if name in ("lfloor", "lceil"):
            closer = "rfloor" if name == "lfloor" else "rceil"
            for position in range(self.index, len(self.tokens)):
                if self.tokens[position].kind == "cmd" and self.tokens[position].text == closer:
                    inside = self.tokens[self.index : position]
                    self.index = position + 1
                    value = self._sub_parse(inside)
                    return sympy.floor(value) if name == "lfloor" else sympy.ceiling(value)
            raise _Unsupported("unclosed floor")
        raise _Unsupported(f"command \\{name}")

    def _argument(self) -> Expr:
        """A command's argument: `{...}` or a single token (`\\frac12`, `\\sqrt2`)."""
        if self._at("op", "{"):
            return self._sub_parse(self._braced_tokens())
        token = self._next()
        if token.kind == "num":
            if len(token.text) > 1:
                # `\frac12` is 1/2: the digits are separate arguments.
                rest = token.text[1:]
                self.index -= 1
                self.tokens = [
                    *self.tokens[: self.index],
                    _Tok("num", token.text[0], token.start, token.start + 1),
                    _Tok("num", rest, token.start + 1, token.end),
                    *self.tokens[self.index + 1 :],
                ]
                self.index += 1
                return sympy.Integer(token.text[0])
            return sympy.Integer(token.text)
        if token.kind == "letter":
            return sympy.E if token.text == "e" else _sym(token.text)
        if token.kind == "cmd" and token.text in _GREEK | {"pi", "infty"}:
            return self._constant(token.text)
        raise _Unsupported("unreadable argument")

    def _fraction(self) -> Expr:
        if self._at("op", "{"):
            start = self.index
            numerator = self._braced_tokens()
            denominator = self._braced_tokens() if self._at("op", "{") else None
            operator = _derivative_operator(numerator, denominator)
            if operator is not None:
                return self._derivative(operator, numerator)
            self.index = start
        numerator_value = self._argument()
        denominator_value = self._argument()
        return numerator_value / denominator_value

    def _derivative(self, operator: tuple[str, int], numerator: list[_Tok]) -> Expr:
        variable_name, order = operator
        variable = _sym(variable_name)
        rest = numerator[1:]
        if len(rest) >= 2 and rest[0].text == "^" and rest[1].kind == "num":
            rest = rest[2:]  # d^2 (the order is read from the denominator)
        if len(rest) == 1 and rest[0].kind == "letter":
            # df/dx, dy/dx
            return self._derivative_of_letter(rest[0].text, variable, order)
        if rest:
            # d(x^2)/dx: what is differentiated is in the numerator.
            operand = self._sub_parse(rest)
        elif self._at("op", "(") or self._at("op", "["):
            operand = self.power()
        else:
            # d/dx x^3 + 2x: without brackets the operator takes the rest of the part.
            operand = self.expr()
        if operand.has(sympy.Derivative):
            raise _Unsupported("derivative inside an unbracketed derivative")
        self.explicit_derivative = True
        return sympy.Derivative(operand, (variable, order))

    def _function(self, name: str) -> Expr:
        exponent = None
        base = None
        if name == "log" and self._at("op", "_"):
            self.index += 1
            base = self._script()
        if self._at("op", "^"):
            self.index += 1
            exponent = self._script()
        if name == "log" and base is None and self._at("op", "_"):
            self.index += 1
            base = self._script()
        is_trig = name in _TRIG
        self.trig_depth += is_trig
        try:
            if self._at("op", "("):
                self.index += 1
                argument = self._enclosed(")")
            else:
                argument = self._loose_argument()
        finally:
            self.trig_depth -= is_trig
        function: Callable[[Expr], Expr]
        if is_trig and exponent == -1:
            inverse = _INVERSE_TRIG.get({"sen": "sin", "tg": "tan"}.get(name, name))
            if inverse is None:
                raise _Unsupported("inverse function")
            return inverse(argument)
        if is_trig:
            function = _TRIG[name]
        elif name == "log":
            if base is not None:
                value = sympy.log(argument, base)
                return value if exponent is None else self._pow(value, exponent)
            # A bare log is base 10 at school and natural in calculus: the judge tries both.
            self.saw_bare_log = True
            function = (lambda a: sympy.log(a, 10)) if self.log10 else sympy.log
        else:
            function = _OTHER_FUNCTIONS[name]
        value = function(argument)
        return value if exponent is None else self._pow(value, exponent)

    def _loose_argument(self) -> Expr:
        """A function's argument without brackets: `\\sin 2x`, `\\ln x^2`, `\\cos \\frac{\\pi}{3}`,
        up to the next operator or function (`\\sin x \\cos x` is a product of two)."""
        factors = [self.unary()]
        while True:
            token = self._peek()
            if token is None:
                break
            simple = token.kind in ("num", "letter") or (
                token.kind == "cmd"
                and token.text in _GREEK | {"pi", "frac", "dfrac", "tfrac", "sqrt"}
            )
            if not simple or (token.kind == "num" and self.tokens[self.index - 1].kind == "num"):
                break
            if token.kind == "letter" and self._at("op", "(", 1):
                break
            factors.append(self.power())
        return sympy.Mul(*factors)

    def _bounds(self) -> tuple[Expr | None, Expr | None]:
        """`_a^b` or `^b_a` (either may be missing): (lower, upper)."""
        lower = upper = None
        for _ in range(2):
            if self._at("op", "_"):
                self.index += 1
                lower = self._script()
            elif self._at("op", "^"):
                self.index += 1
                upper = self._script()
        return lower, upper

    def _integral(self) -> Expr:
        lower, upper = self._bounds()
        if (lower is None) != (upper is None):
            raise _Unsupported("integral with one bound")
        depth = 0
        for position in range(self.index, len(self.tokens) - 1):
            token = self.tokens[position]
            if token.kind == "op" and token.text in _OPENERS:
                depth += 1
            elif token.kind == "op" and token.text in (")", "]", "}"):
                depth -= 1
            following = self.tokens[position + 1]
            if (
                depth == 0
                and token.text == "d"
                and token.kind in ("letter", "text")
                and following.kind == "letter"
            ):
                integrand_tokens = self.tokens[self.index : position]
                self.index = position + 2
                variable = _sym(following.text)
                integrand = self._sub_parse(integrand_tokens) if integrand_tokens else 1
                return _integral(integrand, variable, lower, upper)
        if self._at("cmd") and self.tokens[self.index].text in ("frac", "dfrac", "tfrac"):
            # \int \frac{dx}{x} or \int \frac{2\,dx}{x^2+1}: the differential in the numerator.
            self.index += 1
            numerator = self._braced_tokens()
            if len(numerator) >= 2 and _is_differential(numerator[-2]):
                variable = _sym(numerator[-1].text)
                top = self._sub_parse(numerator[:-2]) if numerator[:-2] else sympy.Integer(1)
                integrand = top / self._argument()
                return _integral(integrand, variable, lower, upper)
        raise _Unsupported("integral without a differential")

    def _limit(self) -> Expr:
        self._expect("op", "_")
        inside = self._braced_tokens()
        if (
            len(inside) < 3
            or inside[0].kind != "letter"
            or not (inside[1].kind == "cmd" and inside[1].text in _ARROW_COMMANDS)
        ):
            raise _Unsupported("unreadable limit")
        variable = _sym(inside[0].text)
        target = inside[2:]
        direction = "+-"
        texts = [t.text for t in target]
        for suffix, side in ((["^", "+"], "+"), (["^", "-"], "-")):
            for form in (suffix, [suffix[0], "{", suffix[1], "}"]):
                if texts[-len(form) :] == form:
                    direction = side
                    target = target[: -len(form)]
        if target and target[-1].kind == "op" and target[-1].text in "+-" and len(target) > 1:
            # x \to 0+ (without the caret)
            direction = target[-1].text
            target = target[:-1]
        point = self._sub_parse(target)
        argument = self.term()
        return sympy.Limit(argument, variable, point, direction)

    def _sum(self, name: str) -> Expr:
        self._expect("op", "_")
        inside = self._braced_tokens()
        if len(inside) < 3 or inside[0].kind != "letter" or inside[1].text != "=":
            raise _Unsupported("unreadable sum")
        index = _sym(inside[0].text)
        first = self._sub_parse(inside[2:])
        self._expect("op", "^")
        last = self._script()
        body = self.term()
        if not (first.is_Integer and last.is_Integer) or last - first >= _MAX_SUM_TERMS:
            raise _Unsupported("sum with symbolic or many terms")
        terms = [body.xreplace({index: sympy.Integer(k)}) for k in range(first, last + 1)]
        return sympy.Add(*terms) if name == "sum" else sympy.Mul(*terms)


def _integral(integrand: Expr, variable: Expr, lower: Expr | None, upper: Expr | None) -> Expr:
    if lower is None:
        return sympy.Integral(integrand, variable)
    return sympy.Integral(integrand, (variable, lower, upper))


def _is_differential(token: _Tok) -> bool:
    return (token.kind in ("letter", "text") and token.text == "d") or (
        token.kind == "cmd" and token.text == "partial"
    )


def _derivative_operator(
    numerator: list[_Tok], denominator: list[_Tok] | None
) -> tuple[str, int] | None:
    """(variable, order) when `\\frac{numerator}{denominator}` is d/dx, d^2/dx^2, df/dx..."""
    if not numerator or not denominator or len(denominator) < 2:
        return None
    if not (_is_differential(numerator[0]) and _is_differential(denominator[0])):
        return None
    if denominator[1].kind != "letter":
        return None
    if len(denominator) == 2:
        return denominator[1].text, 1
    if len(denominator) == 4 and denominator[2].text == "^" and denominator[3].kind == "num":
        return denominator[1].text, int(denominator[3].text)
    return None


_STRUCTURE_COMMANDS = frozenset({"frac", "dfrac", "tfrac", "sqrt", *_FUNCTION_NAMES})


def _in_degrees(expr: Expr) -> Expr:
    r"""`\cos 60` read as `\cos 60^\circ`: trigonometric functions of whole numbers of degrees."""
    return expr.replace(
        lambda e: isinstance(e, _TRIG_CLASSES) and e.args[0].is_Integer and abs(e.args[0]) >= 15,
        lambda e: e.func(e.args[0] * sympy.pi / 180),
    )


def _imaginary(expr: Expr) -> Expr:
    return expr.xreplace({_sym("i"): sympy.I})


@dataclass
class _Side:
    """One parsed part of a chain."""

    tokens: list[_Tok]
    label: str
    expr: Expr
    values: list[Expr]  # two readings for ±, else [expr]
    decimals: int
    bare_degrees: bool
    explicit_derivative: bool
    named_derivative: bool
    used_context: bool  # reads a definition made in an earlier step
    natural_log: _Side | None  # the reading with `\log` as ln, when a bare \log occurs

    @property
    def is_symbol(self) -> bool:
        """Written as a lone symbol (`x`, `x_1`), not merely simplified to one."""
        return (
            bool(self.expr.is_Symbol)
            and self.tokens[0].kind == "letter"
            and (len(self.tokens) == 1 or self.tokens[1].text == "_")
        )

    @property
    def is_structured(self) -> bool:
        """Written with brackets, fractions, roots, bars or functions: a form that an algebraic
        manipulation (expanding, simplifying, factoring) starts from or arrives at."""
        return any(
            (t.kind == "op" and t.text in "([|")
            or (t.kind == "cmd" and t.text in _STRUCTURE_COMMANDS)
            for t in self.tokens
        )

    @property
    def is_constant(self) -> bool:
        return not any(value.free_symbols for value in self.values)


def _reread(side: _Side, change: Callable[[Expr], Expr]) -> _Side:
    """The side with its expression read another way; the same side when nothing changes."""
    values = [change(value) for value in side.values]
    if values == side.values:
        return side
    return dataclasses.replace(side, expr=values[0], values=values, natural_log=None)


def _parse_side(tokens: list[_Tok], tex: str, env: _Env, *, log10: bool = True) -> _Side:
    if not tokens:
        raise _Unsupported("empty")
    if len(tokens) > _MAX_PART_TOKENS:
        raise _Unsupported("part too long")
    if any(t.kind in ("other", "sep", "env") for t in tokens):
        raise _Unsupported("unknown symbol")
    parser = _Parser(tokens, env, pm_sign=1, log10=log10)
    value = parser.part()
    values = [value]
    if parser.saw_pm:
        other = _Parser(tokens, env, pm_sign=-1, log10=log10)
        values.append(other.part())
    for candidate in values:
        if not isinstance(candidate, sympy.Basic) or not _small(candidate):
            raise _Unsupported("too big")
    natural = None
    if parser.saw_bare_log and log10:
        natural = _parse_side(tokens, tex, env, log10=False)
    return _Side(
        tokens=tokens,
        label=_label(tex[tokens[0].start : tokens[-1].end]),
        expr=value,
        values=values,
        decimals=parser.decimals,
        bare_degrees=parser.bare_degrees,
        explicit_derivative=parser.explicit_derivative,
        named_derivative=parser.named_derivative,
        used_context=parser.used_context,
        natural_log=natural,
    )


def _small(expr: Expr) -> bool:
    return all(count <= _MAX_NODES for count, _ in enumerate(sympy.preorder_traversal(expr)))


def _label(tex: str) -> str:
    """The part as written, tidied for a failure message."""
    tex = re.sub(r"\\[dt]?frac\{d\}\{d([a-z])\}", r"d/d\1 ", tex)
    tex = re.sub(r"\\(left|right)\b\.?", "", tex)
    return re.sub(r"\s+", " ", tex).strip()


# --- numbers -----------------------------------------------------------------------------------


class _TooBig(ArithmeticError):
    """A value would grow past what can be computed quickly (towers, huge trig arguments)."""


# Natural-log magnitude an exponential step may reach: e^(10^6) is a 434 295-digit number,
# cheap in mpmath (a float with a big exponent); e^(e^(10^6)) is not, and SymPy's evalf would
# try it without end. Past the cap downwards a value underflows to 0, which is as cheap.
_MAX_GROWTH: Final = 1e6
_MAX_TRIG_ARGUMENT: Final = 1e30
_MAX_GAMMA_ARGUMENT: Final = 1e15

# mpmath function names for the SymPy functions a lesson uses.
_MP_FUNCTIONS: Final[dict[Any, str]] = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.cot: "cot",
    sympy.sec: "sec",
    sympy.csc: "csc",
    sympy.asin: "asin",
    sympy.acos: "acos",
    sympy.atan: "atan",
    sympy.acot: "acot",
    sympy.asec: "asec",
    sympy.acsc: "acsc",
    sympy.sinh: "sinh",
    sympy.cosh: "cosh",
    sympy.tanh: "tanh",
    sympy.asinh: "asinh",
    sympy.acosh: "acosh",
    sympy.atanh: "atanh",
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.floor: "floor",
    sympy.ceiling: "ceil",
    sympy.factorial: "factorial",
    sympy.gamma: "gamma",
}
_TRIG_CLASSES = (sympy.sin, sympy.cos, sympy.tan, sympy.cot, sympy.sec, sympy.csc)
_GROWTH_CLASSES = (sympy.exp, sympy.sinh, sympy.cosh)
_NUMERIC_ERRORS = (ArithmeticError, ValueError, TypeError, KeyError, AttributeError, RecursionError)


class _Numbers:
    """Numeric evaluation of SymPy expressions with mpmath, bounded and verified.

    Bounded: each operation refuses (`_TooBig`) a result too large to compute quickly, where
    SymPy's `evalf` would try `e^(e^(10^6))` or `sin(e^(10^6))` without end. Verified: a value
    is trusted when it agrees at two precisions, so cancellation (`1 - cos x` near 0) never
    passes for a result. A private mpmath context keeps mpmath's process-wide precision alone.
    """

    def __init__(self) -> None:
        self.ctx = mpmath.MPContext()

    # evaluation

    def _num(self, expr: Expr, point: dict[Expr, Any]) -> Any:
        ctx = self.ctx
        if expr.is_Rational:
            return ctx.mpf(expr.p) / expr.q
        if expr.is_Float:
            return ctx.mpf(expr)
        if expr.is_Symbol:
            return point[expr]
        if expr is sympy.pi:
            return +ctx.pi
        if expr is sympy.E:
            return +ctx.e
        if expr is sympy.I:
            return ctx.mpc(0, 1)
        if expr.is_Add:
            return ctx.fsum(self._num(arg, point) for arg in expr.args)
        if expr.is_Mul:
            return ctx.fprod(self._num(arg, point) for arg in expr.args)
        if expr.is_Pow:
            return self._power(self._num(expr.base, point), self._num(expr.exp, point))
        arguments = [self._num(arg, point) for arg in expr.args]
        if isinstance(expr, sympy.binomial):
            if max(abs(a) for a in arguments) > _MAX_GAMMA_ARGUMENT:
                raise _TooBig
            return ctx.binomial(*arguments)
        if len(arguments) != 1:
            raise ValueError(f"cannot evaluate {expr.func}")
        (argument,) = arguments
        if isinstance(expr, sympy.Abs):
            return abs(argument)
        if isinstance(expr, sympy.sign):
            return ctx.sign(argument)
        if isinstance(expr, sympy.DiracDelta):
            # Only the derivative of |x| or sign(x) brings it; away from 0 it vanishes.
            if argument == 0:
                raise ArithmeticError("delta at 0")
            return ctx.mpf(0)
        name = _MP_FUNCTIONS.get(expr.func)
        if name is None:
            raise ValueError(f"cannot evaluate {expr.func}")
        if isinstance(expr, _TRIG_CLASSES) and abs(argument) > _MAX_TRIG_ARGUMENT:
            raise _TooBig
        if isinstance(expr, _GROWTH_CLASSES) and abs(ctx.re(argument)) > _MAX_GROWTH:
            if isinstance(expr, sympy.exp) and ctx.re(argument) < 0:
                return ctx.mpf(0)  # underflow
            raise _TooBig
        if isinstance(expr, (sympy.factorial, sympy.gamma)) and abs(argument) > _MAX_GAMMA_ARGUMENT:
            raise _TooBig
        if isinstance(expr, sympy.log) and argument == 0:
            raise ArithmeticError("log of 0")
        return getattr(ctx, name)(argument)

    def _power(self, base: Any, exponent: Any) -> Any:
        ctx = self.ctx
        if base == 0:
            if ctx.re(exponent) > 0:
                return ctx.mpf(0)
            raise ArithmeticError("0 to a non-positive power")
        growth = exponent * ctx.log(base)
        if abs(growth) > _MAX_GROWTH:
            if ctx.re(growth) < -_MAX_GROWTH and abs(ctx.im(growth)) <= _MAX_TRIG_ARGUMENT:
                return ctx.mpf(0)  # underflow
            raise _TooBig
        if ctx.im(exponent) == 0 and ctx.isint(exponent):
            # An integer power of a negative number stays real.
            return base ** int(exponent)
        return ctx.power(base, exponent)

    def at_precision(self, expr: Expr, subs: dict[Expr, Expr] | None, digits: int) -> Any | None:
        """One evaluation at `digits` digits, unverified."""
        self.ctx.dps = digits
        try:
            point = {symbol: self._num(value, {}) for symbol, value in (subs or {}).items()}
            value = self.ctx.mpc(self._num(expr, point))
        except _NUMERIC_ERRORS:
            return None
        return value if self.ctx.isfinite(value) else None

    def value(self, expr: Expr, subs: dict[Expr, Expr] | None = None) -> Any | None:
        """`expr` (at `subs`) as a complex number, None when it is not a finite number that can
        be computed quickly and reliably. Values below 1e-15 are known to 1e-40 absolutely
        (a side that is exactly zero computes as noise)."""
        low = self.at_precision(expr, subs, _DIGITS)
        if low is None:
            return None
        high = self.at_precision(expr, subs, 2 * _DIGITS)
        if high is None or abs(high - low) > 1e-25 * max(abs(high), 1e-15):
            return None
        return high

    def settled(self, expr: Expr, subs: dict[Expr, Expr]) -> Any | None:
        """Like `value`, but to 20 significant digits however small, raising the precision
        (up to 320 digits) while cancellation eats the digits: for points near a limit."""
        previous = self.at_precision(expr, subs, 40)
        for digits in (80, 160, 320):
            current = self.at_precision(expr, subs, digits)
            if previous is None or current is None:
                return None
            if abs(current - previous) <= 1e-20 * abs(current):
                return current
            previous = current
        return None

    # comparison and display

    def gap(self, first: Any, second: Any) -> float:
        """|first - second| relative to the larger of them, or absolute below 1."""
        scale = max(self.ctx.mpf(1), abs(first), abs(second))
        return float(abs(first - second) / scale)

    def is_real(self, value: Any) -> bool:
        return bool(abs(self.ctx.im(value)) <= 1e-20 * max(1, abs(value)))

    def show(self, value: Any) -> str:
        if not self.is_real(value):
            sign = "-" if self.ctx.im(value) < 0 else "+"
            real, imaginary = self.ctx.re(value), abs(self.ctx.im(value))
            return f"{self._show_real(real)} {sign} {self._show_real(imaginary)}i"
        return self._show_real(self.ctx.re(value))

    def _show_real(self, value: Any) -> str:
        if self.ctx.isinf(value):
            return "∞" if value > 0 else "-∞"
        if abs(value - self.ctx.nint(value)) < 1e-12 and abs(value) < 1e15:
            return str(int(self.ctx.nint(value)))
        return str(self.ctx.nstr(value, 10))

    def show_expr(self, expr: Expr) -> str:
        """An expected value for a failure message: exact when short, else 10 digits."""
        text = sympy.sstr(expr)
        if len(text) > 40 and not expr.free_symbols:
            number = self.value(expr)
            if number is not None:
                return self.show(number)
        return text if len(text) <= 80 else text[:77] + "..."

    # integrals and limits

    def _bound(self, value: Expr) -> Any | None:
        if value in (sympy.oo, -sympy.oo):
            return self.ctx.inf if value == sympy.oo else -self.ctx.inf
        number = self.value(value)
        return self.ctx.re(number) if number is not None and self.is_real(number) else None

    def integral(self, integral: Expr) -> Any | None:
        """The value of a definite integral, None when quadrature is not confident."""
        if len(integral.limits) != 1 or len(integral.limits[0]) != 3:
            return None
        (variable, lower, upper) = integral.limits[0]
        integrand = integral.function
        bounds = [self._bound(lower), self._bound(upper)]
        if integrand.free_symbols - {variable} or any(b is None for b in bounds):
            return None
        self.ctx.dps = 20
        try:
            value, error = self.ctx.quad(
                lambda t: self._num(integrand, {variable: t}), bounds, error=True, maxdegree=6
            )
        except _NUMERIC_ERRORS:
            return None
        value = self.ctx.mpc(value)
        if not self.ctx.isfinite(value) or error > 1e-10 * max(1, abs(value)):
            return None
        return value

    def limit(self, limit: Expr) -> Any | None:
        """A limit estimated from values ever closer to the point: a number, `inf`, `-inf`,
        or None when they do not settle (oscillation, slow convergence, sides that differ)."""
        function, variable, point, direction = limit.args
        if function.free_symbols - {variable}:
            return None
        if point in (sympy.oo, -sympy.oo):
            sign = 1 if point == sympy.oo else -1
            series = [[sign * sympy.Integer(10) ** k for k in (10, 13, 16)]]
        else:
            if point.free_symbols:
                return None
            steps = [sympy.Rational(1, 10**k) for k in (10, 13, 16)]
            sides = {"+": [1], "-": [-1], "+-": [1, -1]}[str(direction)]
            series = [[point + side * h for h in steps] for side in sides]
        estimates = []
        for xs in series:
            reals = []
            for x in xs:
                value = self.settled(function, {variable: x})
                if value is None or not self.is_real(value):
                    return None
                reals.append(self.ctx.re(value))
            if all(abs(v) > 1e6 for v in reals[1:]) and abs(reals[2]) > abs(reals[1]) > abs(
                reals[0]
            ):
                if reals[1] * reals[2] <= 0:
                    return None
                estimates.append(self.ctx.inf if reals[2] > 0 else -self.ctx.inf)
                continue
            if self.gap(reals[1], reals[2]) > 1e-6:
                return None
            estimates.append(reals[2])
        first = estimates[0]
        for other in estimates[1:]:
            if self.ctx.isinf(first) or self.ctx.isinf(other):
                if first != other:
                    return None
            elif self.gap(first, other) > 1e-6:
                return None
        return first


# --- the judge ---------------------------------------------------------------------------------


@dataclass
class _Equation:
    unknown: Expr
    left: Expr
    right: Expr
    label: str
    position: int
    span: int


@dataclass
class _Statement:
    """`x = 3` (or `x_1 = 3`, `x = \\pm 3`) stated as a value of an unknown."""

    unknown: Expr
    values: list[Expr]
    decimals: int
    label: str
    position: int
    span: int
    after_equation_in_span: bool = False


@dataclass
class _Tally:
    checks: int = 0
    passes: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def passed(self) -> None:
        self.checks += 1
        self.passes += 1

    def failed(self, message: str) -> None:
        self.checks += 1
        self.failures.append(message)

    def result(self) -> StepCheck:
        return StepCheck(self.checks, self.passes, list(self.failures), self.skipped)


class _Out(Exception):
    """The time budget is spent."""


# "holds" and "fail" are decided claims; "skip" an undecided one; "none" not a claim (a
# definition or a stated value); "equation" a statement to solve, kept to check its solutions.
VerdictKind = Literal["holds", "fail", "skip", "none", "equation"]


@dataclass
class _Verdict:
    kind: VerdictKind
    message: str = ""


def _fail(message: str) -> _Verdict:
    return _Verdict("fail", message)


def _compare_numbers(a: _Side, b: _Side, numbers: _Numbers) -> _Verdict:
    la, lb = a.label, b.label
    values_a = [numbers.value(v) for v in a.values]
    values_b = [numbers.value(v) for v in b.values]
    if any(v is None for v in values_a + values_b):
        return _Verdict("skip")
    if len(values_a) != len(values_b):
        # `\sqrt{16} = \pm 4`: a convention some schools teach; not ours to judge.
        return _Verdict("skip")
    decimals = max(a.decimals, b.decimals)
    # A written decimal may be rounded (or truncated) to its last digit: 1/3 = 0.33.
    rounding = sympy.Rational(1, 10**decimals) if decimals else sympy.Integer(0)
    if len(a.values) == 1 and all(v.is_Rational for v in a.values + b.values):
        # Exact arithmetic: 50 digits would miss an error in the 40th.
        difference = abs(a.values[0] - b.values[0])
        if difference == 0 or difference < rounding:
            return _Verdict("holds")
        return _fail(f"{la} = {lb} is false (expected {numbers.show_expr(a.values[0])})")

    def same(first: Any, second: Any) -> bool | None:
        if decimals:
            return bool(abs(first - second) < numbers.ctx.mpf(rounding.p) / rounding.q)
        gap_ratio = numbers.gap(first, second)
        if gap_ratio <= 1e-15:
            return True
        return False if gap_ratio > 1e-9 else None

    matches = [[same(x, y) for y in values_b] for x in values_a]
    if all(any(row) for row in matches) and all(
        any(matches[i][j] for i in range(len(values_a))) for j in range(len(values_b))
    ):
        return _Verdict("holds")
    if any(m is None for row in matches for m in row):
        return _Verdict("skip")
    shown = numbers.show_expr(a.values[0]) if a.values[0].is_Rational else numbers.show(values_a[0])
    return _fail(f"{la} = {lb} is false (expected {shown})")


def _compare_functions(
    first: Expr, second: Expr, numbers: _Numbers
) -> tuple[str, dict[Expr, Expr]]:
    """Whether two expressions are the same function: "same", "different" (with a point where
    they differ) or "unknown". Real values that differ count; complex ones are only compared
    for agreement, since branch cuts make equal functions differ off their real domain."""
    variables = sorted(first.free_symbols | second.free_symbols, key=lambda s: s.name)
    agree = disagree = 0
    witness: dict[Expr, Expr] = {}
    for trial in range(len(_SAMPLES)):
        point = {v: _SAMPLES[(trial + 3 * k) % len(_SAMPLES)] for k, v in enumerate(variables)}
        one, two = numbers.value(first, point), numbers.value(second, point)
        if one is None or two is None:
            continue
        gap = numbers.gap(one, two)
        if gap <= 1e-12:
            agree += 1
        elif gap > 1e-7 and numbers.is_real(one) and numbers.is_real(two):
            disagree += 1
            witness = witness or point
        if agree + disagree >= 6:
            break
    if agree >= 3 and not disagree:
        return "same", {}
    if disagree >= 3 and not agree:
        return "different", witness
    return "unknown", {}


def _show_point(point: dict[Expr, Expr]) -> str:
    return ", ".join(f"{symbol} = {value}" for symbol, value in point.items())


def _apply_derivatives(expr: Expr) -> Expr:
    return expr.replace(lambda e: isinstance(e, sympy.Derivative), lambda e: e.doit())


class _StepChecker:
    def __init__(self, content: str, context: str, deadline: float, tally: _Tally) -> None:
        self.content = content
        self.context = context[-_MAX_CONTEXT_CHARS:]
        self.deadline = deadline
        self.tally = tally
        self.env = _Env()
        self.spans = _math_spans(content)
        self.prose = _prose(content, self.spans)
        self.folded = _fold(self.prose)
        self.equations: list[_Equation] = []
        self.statements: list[_Statement] = []
        self.pairs_judged = 0
        self.numbers = self.env.numbers
        context_spans = _math_spans(self.context)
        self.solving = bool(
            _EQUATION_CUES.search(self.folded)
            or _EQUATION_CUES.search(_fold(_prose(self.context, context_spans)))
        )
        self.context_spans = context_spans

    def _tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _Out

    def run(self) -> None:
        self._read_context()
        claims: list[tuple[_Segment, str, list[_Side | None]]] = []
        spans_read = 0
        try:
            for index, span in enumerate(self.spans):
                claims.extend(self._read_span(index, span))
                spans_read = index + 1
            self._mark_statements(claims)
            for segment, _, sides in claims:
                self._judge_segment(segment, sides)
            self._check_solutions()
        except _Out:
            # Whatever was not judged in time counts as skipped (at least one claim).
            unread = sum(span.tex.count("=") for span in self.spans[spans_read:])
            pending = sum(segment.relations.count("=") for segment, _, _ in claims)
            self.tally.skipped += max(1, unread + pending - self.pairs_judged)

    def _read_span(self, index: int, span: _Span) -> list[tuple[_Segment, str, list[_Side | None]]]:
        self._tick()
        try:
            if len(span.tex) > _MAX_SPAN_CHARS:
                raise _Unsupported("formula too long")
            tex = _normalise(span.tex)
            segments = _segments(_tokenize(tex), index)
        except _Unsupported:
            if "=" in span.tex:
                self.tally.skipped += 1
            return []
        read = []
        for segment in segments:
            self._tick()
            read.append((segment, tex, self._read_segment(segment, tex)))
        return read

    def _read_context(self) -> None:
        """Only definitions are taken from earlier steps: `f(x) = ...` and `y = ...`."""
        for span in self.context_spans:
            if time.monotonic() > self.deadline:
                return
            if "=" not in span.tex or len(span.tex) > _MAX_SPAN_CHARS:
                continue
            try:
                tex = _normalise(span.tex)
                segments = _segments(_tokenize(tex), -1)
            except _Unsupported:
                continue
            for segment in segments:
                self._define(segment, tex, in_context=True)

    def _define(self, segment: _Segment, tex: str, *, in_context: bool = False) -> bool:
        """Records `f(x) = body` or `y = body` (a body in x); True when the chain starts so."""
        parts, relations = segment.parts, segment.relations
        if not relations or relations[0] != "=" or len(parts) < 2:
            return False
        head = parts[0]
        shape = [(t.kind, t.text) for t in head]
        try:
            if (
                len(head) == 4
                and shape[0][0] == "letter"
                and shape[1] == ("op", "(")
                and shape[2][0] == "letter"
                and shape[3] == ("op", ")")
                and head[0].text != head[2].text
            ):
                name, variable = head[0].text, _sym(head[2].text)
                # Parsed without this name's old definition: `f(x) = f(x) + 1` is no definition.
                others = {k: v for k, v in self.env.functions.items() if k != head[0].text}
                body = _parse_side(parts[1], tex, _Env(others, numbers=self.numbers)).expr
                known = self.env.functions.get(name)
                if known is not None and name not in self.env.from_context and not in_context:
                    old_variable, old_body = known
                    restated = old_body.xreplace({old_variable: variable})
                    if _compare_functions(restated, body, self.numbers)[0] == "same":
                        # `p(x) = (x-1)(x^2+x+1)` after `p(x) = x^3 - 1`: a claim to check.
                        return False
                # A constant body is `f(x) = 0`, an equation, unless f is new (then rare).
                if not body.has(AppliedUndef) and body.free_symbols:
                    self.env.functions[name] = (variable, body)
                    self._note_origin(name, in_context)
                return True
            if len(head) == 1 and shape[0][0] == "letter" and head[0].text not in "xe":
                body = _parse_side(parts[1], tex, self.env).expr
                if body.free_symbols == {_sym("x")} and not body.has(AppliedUndef):
                    self.env.letters[head[0].text] = body
                    self._note_origin(head[0].text, in_context)
        except _PARSE_ERRORS:
            return False
        return False

    def _note_origin(self, name: str, in_context: bool) -> None:
        if in_context:
            self.env.from_context.add(name)
        else:
            self.env.from_context.discard(name)

    def _read_segment(self, segment: _Segment, tex: str) -> list[_Side | None]:
        is_definition = self._define(segment, tex)
        sides: list[_Side | None] = []
        for index, tokens in enumerate(segment.parts):
            if is_definition and index == 0:
                sides.append(None)
                continue
            try:
                sides.append(_parse_side(tokens, tex, self.env))
            except _PARSE_ERRORS:
                sides.append(None)
        if is_definition:
            segment.relations = ["def", *segment.relations[1:]]
        return sides

    def _offset(self, segment: _Segment) -> int:
        return self.spans[segment.span].start if segment.span >= 0 else -1

    def _mark_statements(self, claims: list[tuple[_Segment, str, list[_Side | None]]]) -> None:
        """Finds the `x = value` statements, before any judging (they tell equations apart)."""
        last: _Statement | None = None
        for segment, _, sides in claims:
            first = sides[0]
            if (
                first is not None
                and first.is_symbol
                and segment.relations
                and segment.relations[0] == "="
            ):
                run = [first]
                for relation, side in zip(segment.relations, sides[1:], strict=True):
                    if relation != "=" or side is None:
                        break
                    run.append(side)
                numeric = [s for s in run[1:] if s.is_constant]
                if numeric and len(numeric) == len(run) - 1:
                    values = list(numeric[-1].values)
                    for side in numeric[:-1]:
                        if len(side.values) > len(values):
                            values = [*side.values, *values]
                    name = first.expr.name.split("_", 1)[0]
                    last = _Statement(
                        unknown=_sym(name),
                        values=values,
                        decimals=max(s.decimals for s in numeric),
                        label=" = ".join(s.label for s in run),
                        position=self._offset(segment),
                        span=segment.span,
                    )
                    self.statements.append(last)
                    continue
            if (
                last is not None
                and last.span == segment.span
                and len(sides) == 1
                and sides[0] is not None
                and sides[0].is_constant
            ):
                # `x = 2 \text{ o } 3`: a bare value continues the statement before it.
                last.values.extend(sides[0].values)
                continue
            last = None

    def _judge_segment(self, segment: _Segment, sides: list[_Side | None]) -> None:
        chain_has_constant = any(s is not None and s.is_constant for s in sides)
        for index, relation in enumerate(segment.relations):
            if relation != "=":
                continue
            self._tick()
            self.pairs_judged += 1
            a, b = sides[index], sides[index + 1]
            if not segment.parts[index] or not segment.parts[index + 1]:
                continue
            if a is None or b is None:
                self.tally.skipped += 1
                continue
            judge = functools.partial(
                self._judge_safely, segment=segment, index=index, constant=chain_has_constant
            )
            verdict = judge(a, b)
            if verdict.kind == "fail":
                verdict = self._second_reading(a, b, verdict, segment, judge)
            self._record(verdict, a, b, segment)

    def _judge_safely(
        self, a: _Side, b: _Side, *, segment: _Segment, index: int, constant: bool
    ) -> _Verdict:
        try:
            return self._judge_pair(a, b, segment, index, constant)
        except _Out:
            raise
        except Exception:  # noqa: BLE001 - a SymPy corner case must not block a lesson
            return _Verdict("skip")

    def _second_reading(
        self,
        a: _Side,
        b: _Side,
        verdict: _Verdict,
        segment: _Segment,
        judge: Callable[[_Side, _Side], _Verdict],
    ) -> _Verdict:
        """A claim found false is only reported if no common reading makes it true."""
        span = self.spans[segment.span]
        start, _ = _sentence(self.prose, span.start)
        before = _fold(self.prose[start : span.start])
        if (a.used_context or b.used_context) and _HYPOTHETICAL_CUES.search(before):
            # "Si f'(x) = ..." about another f than the one an earlier step defined.
            return _Verdict("skip")
        if a.natural_log or b.natural_log:
            # A bare `\log` may be natural (calculus) rather than decimal (school).
            retry = judge(a.natural_log or a, b.natural_log or b)
            if retry.kind != "fail":
                return retry
        if _sym("i") in a.expr.free_symbols | b.expr.free_symbols:
            # `i` is the imaginary unit in a lesson on complex numbers, maybe a variable else.
            retry = judge(_reread(a, _imaginary), _reread(b, _imaginary))
            if retry.kind == "holds" or _COMPLEX_CUES.search(self.folded):
                return retry
            return _Verdict("skip")
        degrees = (_reread(a, _in_degrees), _reread(b, _in_degrees))
        if degrees != (a, b) and judge(*degrees).kind != "fail":
            # `\cos 60 = 0.5`: degrees without their sign; sloppy, not false.
            return _Verdict("skip")
        return verdict

    def _record(self, verdict: _Verdict, a: _Side, b: _Side, segment: _Segment) -> None:
        if verdict.kind == "holds":
            self.tally.passed()
        elif verdict.kind == "fail":
            self.tally.failed(verdict.message)
        elif verdict.kind == "skip":
            self.tally.skipped += 1
        elif verdict.kind == "equation":
            variables = a.expr.free_symbols | b.expr.free_symbols
            if len(variables) == 1 and len(a.values) == len(b.values) == 1:
                self.equations.append(
                    _Equation(
                        unknown=next(iter(variables)),
                        left=_apply_derivatives(a.expr),
                        right=_apply_derivatives(b.expr),
                        label=f"{a.label} = {b.label}",
                        position=self._offset(segment),
                        span=segment.span,
                    )
                )

    def _judge_pair(
        self, a: _Side, b: _Side, segment: _Segment, index: int, chain_has_constant: bool
    ) -> _Verdict:
        if a.is_symbol and index == 0:
            # `x = 3`, `y = 2x + 1`: a statement or a definition, not a claim.
            return _Verdict("none")
        if a.expr.has(AppliedUndef) or b.expr.has(AppliedUndef):
            return _Verdict("skip")
        if a.bare_degrees != b.bare_degrees:
            # `30^\circ + 60^\circ = 90`: degrees on one side only; sloppy, not false.
            return _Verdict("skip")
        for first, second in ((a, b), (b, a)):
            if first.expr.has(sympy.Limit):
                if isinstance(first.expr, sympy.Limit) and not second.expr.has(sympy.Limit):
                    return self._judge_limit(first, second)
                return _Verdict("skip")
        for first, second in ((a, b), (b, a)):
            if first.expr.has(sympy.Integral):
                return self._judge_integral(first, second)
        if (
            a.explicit_derivative
            or b.explicit_derivative
            or a.named_derivative
            or b.named_derivative
        ):
            return self._judge_derivative(a, b)
        if a.is_constant and b.is_constant:
            return _compare_numbers(a, b, self.numbers)
        if len(a.values) > 1 or len(b.values) > 1:
            return _Verdict("skip")
        outcome, point = _compare_functions(a.expr, b.expr, self.numbers)
        if outcome == "same":
            return _Verdict("holds")
        if outcome == "unknown" or a.decimals or b.decimals:
            return _Verdict("skip")
        if a.is_constant or b.is_constant or chain_has_constant:
            return _Verdict("equation")
        return self._judge_difference(a, b, segment, point)

    def _judge_difference(
        self, a: _Side, b: _Side, segment: _Segment, point: dict[Expr, Expr]
    ) -> _Verdict:
        """Sides that differ as functions: a false identity, or an equation to solve?"""
        variables = a.expr.free_symbols | b.expr.free_symbols
        stated = {s.unknown for s in self.statements}
        if self.solving or variables & stated:
            return _Verdict("equation")
        if not (a.is_structured or b.is_structured):
            # `3x - 2 = x + 4` after "simplificamos": a step of solving, whatever the words.
            return _Verdict("skip")
        span = self.spans[segment.span]
        start, _ = _sentence(self.prose, span.start)
        if _IDENTITY_CUES.search(_fold(self.prose[start : span.start])):
            return _fail(
                f"{a.label} = {b.label} is false (the sides differ at {_show_point(point)})"
            )
        return _Verdict("skip")

    def _judge_derivative(self, a: _Side, b: _Side) -> _Verdict:
        first, second = (a, b) if (a.explicit_derivative or a.named_derivative) else (b, a)
        left, right = _apply_derivatives(first.expr), _apply_derivatives(second.expr)
        if len(first.values) > 1 or len(second.values) > 1:
            return _Verdict("skip")
        expected = self.numbers.show_expr(left)
        message = f"{a.label} = {b.label} is false (expected {expected})"
        if not (left.free_symbols | right.free_symbols):
            one, two = self.numbers.value(left), self.numbers.value(right)
            if one is None or two is None:
                return _Verdict("skip")
            gap = self.numbers.gap(one, two)
            if gap <= 1e-12:
                return _Verdict("holds")
            if max(first.decimals, second.decimals):
                return _Verdict("skip") if gap < 10**-second.decimals else _fail(message)
            return _fail(message) if gap > 1e-9 else _Verdict("skip")
        outcome, _ = _compare_functions(left, right, self.numbers)
        if outcome == "same":
            return _Verdict("holds")
        if outcome == "unknown" or first.decimals or second.decimals:
            return _Verdict("skip")
        if first.named_derivative and not first.explicit_derivative and second.is_constant:
            # f'(x) = 0: the equation of the critical points, not a claim about f'.
            return _Verdict("equation")
        return _fail(message)

    def _judge_integral(self, integral_side: _Side, other: _Side) -> _Verdict:
        integral = integral_side.expr
        if other.expr.has(sympy.Integral) or len(other.values) > 1:
            return _Verdict("skip")
        label = f"{integral_side.label} = {other.label}"
        if isinstance(integral, sympy.Integral) and len(integral.limits[0]) == 1:
            (variable,) = integral.limits[0]
            derivative = sympy.diff(other.expr, variable)
            outcome, _ = _compare_functions(derivative, integral.function, self.numbers)
            if outcome == "same":
                return _Verdict("holds")
            if outcome == "different":
                return _fail(
                    f"{label} is false (the derivative of {other.label} is "
                    f"{self.numbers.show_expr(derivative)}, "
                    f"not {self.numbers.show_expr(integral.function)})"
                )
            return _Verdict("skip")
        integrals = list(integral.atoms(sympy.Integral))
        if any(len(i.limits[0]) != 3 for i in integrals):
            return _Verdict("skip")
        replaced = integral
        for item in integrals:
            value = self.numbers.integral(item)
            if value is None:
                return _Verdict("skip")
            number = sympy.Float(value.real, 20) + sympy.I * sympy.Float(value.imag, 20)
            replaced = replaced.xreplace({item: number})
        if replaced.free_symbols or not other.is_constant:
            return _Verdict("skip")
        one, two = self.numbers.value(replaced), self.numbers.value(other.expr)
        if one is None or two is None:
            return _Verdict("skip")
        gap = self.numbers.gap(one, two)
        tolerance = 10.0**-other.decimals if other.decimals else 1e-8
        if gap <= tolerance:
            return _Verdict("holds")
        if gap > 10 * tolerance:
            return _fail(f"{label} is false (expected ≈ {self.numbers.show(one)})")
        return _Verdict("skip")

    def _judge_limit(self, limit_side: _Side, other: _Side) -> _Verdict:
        if not other.is_constant or len(other.values) > 1:
            return _Verdict("skip")
        numbers = self.numbers
        estimate = numbers.limit(limit_side.expr)
        if estimate is None:
            return _Verdict("skip")
        message = f"{limit_side.label} = {other.label} is false (expected {numbers.show(estimate)})"
        if other.expr in (sympy.oo, -sympy.oo):
            infinite = numbers.ctx.inf if other.expr == sympy.oo else -numbers.ctx.inf
            return _Verdict("holds") if estimate == infinite else _fail(message)
        value = numbers.value(other.expr)
        if value is None:
            return _Verdict("skip")
        if numbers.ctx.isinf(estimate):
            return _fail(message)
        gap = numbers.gap(estimate, value)
        tolerance = 10.0**-other.decimals if other.decimals else 1e-5
        if gap <= tolerance:
            return _Verdict("holds")
        return _fail(message) if gap > max(1e-3, 10 * tolerance) else _Verdict("skip")

    # solutions

    def _presented_as_result(self, statement: _Statement, previous: _Statement | None) -> bool:
        """`x = 3` after "luego", "las soluciones son", "\\Rightarrow"...; not after "para",
        "si", "sustituyendo" or "el vértice está en", where it is a point, not a result."""
        span = self.spans[statement.span]
        sentence_start, _ = _sentence(self.prose, span.start)
        before = [s for s in self.spans if sentence_start <= s.end <= span.start]
        chunk_start = before[-1].end if before else sentence_start
        if _NOT_RESULT_CUES.search(_fold(self.prose[chunk_start : span.start])):
            return False
        if statement.after_equation_in_span or _RESULT_CUES.search(
            _fold(self.prose[sentence_start : span.start])
        ):
            return True
        return (
            previous is not None
            and previous.unknown == statement.unknown
            and _sentence(self.prose, self.spans[previous.span].start)
            == _sentence(self.prose, span.start)
            and self._presented_as_result(previous, None)
        )

    def _check_solutions(self) -> None:
        checked: set[tuple[str, str]] = set()
        previous: _Statement | None = None
        groups: dict[tuple[int, int, Expr], list[_Statement]] = {}
        for statement in self.statements:
            self._tick()
            earlier = [
                e
                for e in self.equations
                if e.unknown == statement.unknown
                and (e.position, e.span) <= (statement.position, statement.span)
            ]
            statement.after_equation_in_span = any(e.span == statement.span for e in earlier)
            if not earlier or not self._presented_as_result(statement, previous):
                previous = statement
                continue
            previous = statement
            span = self.spans[statement.span]
            groups.setdefault((*_sentence(self.prose, span.start), statement.unknown), []).append(
                statement
            )
            for value in statement.values:
                number = self.numbers.value(value)
                if number is None:
                    self.tally.skipped += 1
                    continue
                key = (statement.unknown.name, self.numbers.show(number))
                if key in checked:
                    continue
                checked.add(key)
                verdicts = [_satisfies(e, value, statement.decimals, self.numbers) for e in earlier]
                if any(v is True for v in verdicts):
                    self.tally.passed()
                elif any(v is None for v in verdicts):
                    self.tally.skipped += 1
                else:
                    shown = self.numbers.show_expr(value)
                    self.tally.failed(
                        f"{statement.unknown} = {shown} is not a solution of {earlier[0].label}"
                    )
        for (start, end, unknown), statements in groups.items():
            self._tick()
            sentence = _fold(self.prose[start:end])
            if not _ALL_SOLUTIONS_CUES.search(sentence) or _PARTIAL_SOLUTIONS_CUES.search(sentence):
                continue
            main = next(e for e in self.equations if e.unknown == unknown)
            stated = [v for s in statements for v in s.values]
            decimals = max(s.decimals for s in statements)
            if not all(_satisfies(main, v, decimals, self.numbers) for v in stated):
                continue
            roots = _real_roots(main, self.numbers)
            if roots is None:
                self.tally.skipped += 1
                continue
            tolerance = 10.0**-decimals if decimals else 1e-9
            values = [self.numbers.value(v) for v in stated]
            missing = [
                r
                for r in roots
                if not any(n is not None and abs(n - r) <= tolerance for n in values)
            ]
            if missing:
                shown = ", ".join(f"{unknown} = {self.numbers.show(r)}" for r in missing)
                self.tally.failed(f"{main.label}: the stated solutions miss {shown}")
            else:
                self.tally.passed()


def _satisfies(equation: _Equation, value: Expr, decimals: int, numbers: _Numbers) -> bool | None:
    """Whether `unknown = value` solves the equation; None when it cannot be told."""
    at = {equation.unknown: value}
    left, right = numbers.value(equation.left, at), numbers.value(equation.right, at)
    if left is None or right is None:
        # Undefined there (a zero denominator): an excluded value is no solution; a value too
        # big or unreliable to compute is undecided.
        poles = [
            numbers.at_precision(side, at, _DIGITS) for side in (equation.left, equation.right)
        ]
        return False if None in poles else None
    gap = numbers.gap(left, right)
    if gap <= 1e-12:
        return True
    if decimals:
        # A rounded root: the sides cross within the last written digit.
        difference = equation.left - equation.right
        step = sympy.Rational(1, 10**decimals)
        below = numbers.value(difference, {equation.unknown: value - step})
        above = numbers.value(difference, {equation.unknown: value + step})
        if (
            below is None
            or above is None
            or not (numbers.is_real(below) and numbers.is_real(above))
        ):
            return None
        return bool(numbers.ctx.re(below) * numbers.ctx.re(above) <= 0)
    return False if gap > 1e-9 else None


def _real_roots(equation: _Equation, numbers: _Numbers) -> list[Any] | None:
    """The real roots of a rational equation of degree at most 4, else None."""
    unknown = equation.unknown
    difference = equation.left - equation.right
    for node in sympy.preorder_traversal(difference):
        if isinstance(node, sympy.Pow) and node.base.has(unknown):
            if not node.exp.is_Integer or abs(node.exp) > 8:
                return None
        elif node.is_Function and node.has(unknown):
            return None
    numerator, denominator = sympy.fraction(sympy.together(difference))
    polynomial = sympy.Poly(numerator, unknown)
    if not 1 <= polynomial.degree() <= 4 or polynomial.domain not in (sympy.ZZ, sympy.QQ):
        return None
    roots = []
    for root in set(polynomial.real_roots()):
        value = root.evalf(_DIGITS)  # an algebraic number, isolated already: cheap
        pole = numbers.value(denominator, {unknown: value})
        if pole is None or abs(pole) < 1e-20:
            continue
        number = numbers.value(value)
        if number is None:
            return None
        roots.append(number)
    return roots


def check_step(content: str, *, context: str = "", time_budget: float = 1.0) -> StepCheck:
    """Checks the claims in a lesson step's `content` (see the module docstring).

    `context` holds the earlier steps' contents, read only for definitions (`f(x) = ...`) and
    for cue words that the lesson is solving an equation. `time_budget` is wall-clock seconds
    for the whole step; claims not reached in time are counted as skipped. Never raises.
    """
    deadline = time.monotonic() + max(0.0, time_budget)
    tally = _Tally()
    try:
        _StepChecker(content, context, deadline, tally).run()
    except Exception:  # noqa: BLE001 - a checker bug must never block a lesson; it is a skip
        tally.skipped += 1
    return tally.result()


# --- bank questions --------------------------------------------------------------------------

# The letter after a lead: "(b)", "**B**", "B", "b)" or "b." ... but not the Spanish words of
# one letter ("a", "e", "o", "u", "y") when a word follows them.
_OPTION_LETTER = re.compile(
    r"\s*(?:\(\s*(?P<paren>[A-Ha-h])\s*\)"
    r"|\*\*\s*\(?(?P<bold>[A-Ha-h])\)?\s*\*\*"
    r"|(?P<upper>[A-H])(?![A-Za-z0-9])"
    r"|(?P<closed>[a-h])(?=\)|\s*$|\s*[.,;:!])"
    r"|(?P<plain>[b-dfgh])(?![A-Za-z0-9]))"
)
_OPTION_WORD = r"(?:opcion|alternativa|letra|inciso|literal|option)"
# An answer: "la respuesta correcta es la B", "respuesta: (b)", "la respuesta es la opción C".
_ANSWER_LEADS = re.compile(
    r"(?i:\b(?:respuesta|answer)(?:\s+(?:correcta|final|buscada|correct))?\s*[:=]"
    r"|\b(?:respuesta|answer)[^.!?\n:]{0,40}?\b(?:es|seria|sera|is)\s+(?:(?:la|el|the)\s+)?)"
    r"(?i:" + _OPTION_WORD + r"\s+)?"
)
# A choice: "la opción correcta es la C", "elegimos la B", "la correcta es la C".
_CHOICE_LEADS = re.compile(
    r"(?i:\b" + _OPTION_WORD + r"\s+correcta\s+es\s+(?:la\s+)?"
    r"|\bla\s+correcta\s+es\s+la\s+(?:" + _OPTION_WORD + r"\s+)?"
    r"|\b(?:elegimos|marcamos|seleccionamos|escogemos)\s+(?:la\s+)?(?:" + _OPTION_WORD + r"\s+)?)"
)
_OPTION_LEADS = re.compile(r"(?i:\b" + _OPTION_WORD + r"\s+)")
_IS_CORRECT = re.compile(r"(?i:\s*(?:es\s+(?:la\s+)?correcta|is\s+(?:the\s+)?correct))")


def _plain(text: str) -> str:
    """An option's text for comparison: no dollars, spaces, braces or final period."""
    return re.sub(r"[\s${}]|\\[,;!]", "", _fold(text)).rstrip(".")


def _answers_by_value(text: str, letters: dict[str, str]) -> list[str]:
    """Letters whose option text is what an answer lead states: "la respuesta es $14$"."""
    by_text = {_plain(value): key for key, value in letters.items() if _plain(value)}
    found = []
    for lead in _ANSWER_LEADS.finditer(text):
        stated = re.match(r"[^.,;\n]*?(?=\s*(?:[,;\n]|\.(?:\s|$)|$))", text[lead.end() :])
        if stated and _plain(stated.group(0)) in by_text:
            found.append(by_text[_plain(stated.group(0))])
    return found


def _letters_after(leads: re.Pattern[str], text: str) -> list[tuple[str, int]]:
    """The option letters that follow each match of `leads`, with where they end."""
    found = []
    for lead in leads.finditer(text):
        letter = _OPTION_LETTER.match(text, lead.end())
        if letter:
            value = next(group for group in letter.groupdict().values() if group)
            found.append((value.upper(), letter.end()))
    return found


def check_option(content: str, options: dict[str, str] | list[str], correct: str) -> bool | None:
    """Whether the step's final choice among a bank question's lettered options is `correct`.

    `options` maps letters to texts (a list is lettered A, B, C... in order); `correct` is the
    right letter (or its text). An explicit answer ("la respuesta correcta es la B",
    "respuesta: (b)") wins over a choice ("la opción correcta es la C", "elegimos la C",
    "opción C es la correcta"), which wins over a bare mention ("opción C"); the last of the
    strongest kind counts. None when the step names no option, or mentions several without
    choosing.
    """
    letters = (
        {key.strip().strip("()").upper(): value for key, value in options.items()}
        if isinstance(options, dict)
        else {chr(ord("A") + index): value for index, value in enumerate(options)}
    )
    right = correct.strip().strip("()").upper()
    if right not in letters:
        by_text = {_fold(value).strip(): key for key, value in letters.items()}
        if _fold(correct).strip() not in by_text:
            return None
        right = by_text[_fold(correct).strip()]
    text = unicodedata.normalize("NFD", content)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    mentions = [letter for letter, _ in _letters_after(_OPTION_LEADS, text)]
    chosen = [
        letter
        for letter, end in _letters_after(_OPTION_LEADS, text)
        if _IS_CORRECT.match(text, end)
    ]
    for candidates in (
        [letter for letter, _ in _letters_after(_ANSWER_LEADS, text)]
        or _answers_by_value(text, letters),
        [letter for letter, _ in _letters_after(_CHOICE_LEADS, text)] + chosen,
    ):
        candidates = [letter for letter in candidates if letter in letters]
        if candidates:
            return candidates[-1] == right
    named = set(mentions) & letters.keys()
    if len(named) == 1:
        return named.pop() == right
    return None
