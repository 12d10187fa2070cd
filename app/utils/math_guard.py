"""Whether two normalized questions ask the same thing, mathematically: the guard that must agree
before a stored answer found by trigram similarity is reused for a new question.

Trigram similarity (pg_trgm `similarity()` over `normalize_text` output) cannot tell
"derivada de x^2" from "derivada de x^3", nor "mitosis" from "meiosis": one character apart,
almost every trigram shared. The guard extracts a `MathSignature` from each normalized question
and `same_math` compares them. Reusing a wrong answer costs a student far more than one extra LLM
call, so every rule errs towards "different".

Rules (input is `normalize_text` output: lowercase, no Spanish accents, operators without spaces):

1. Numbers: a multiset. "2,5" and "2.5" are both 2.5 (Spanish decimal comma); "2.50" is 2.5.
   Three or more comma-separated numbers ("2,4,6") are a list, and so is "(1,2)" (a point).
   Spanish number words from "cero" to "cien" count ("dos", "veintiuno", "treinta y cinco"),
   also "y medio" and "un medio"; "un/una/uno" do not (they are articles far more often).
2. Variables: the set of single letters used mathematically. Inside an expression every letter
   is one ("3x+2y"); a standalone letter is one too, except the Spanish words "y", "a", "o",
   "e", "u" and the chat spelling "q" (que), unless the context makes them mathematical
   ("despeja y", "y al cuadrado", "e elevado a la x", a final "q"). "y"/"o" between two
   variables are kept as words ("p y q" != "p o q"). A letter named as the unknown ("despeja
   y", "respecto a x", "valor de x") is a target; targets must agree when there are two or more
   variables ("despeja x" and "despeja y" in the same equation are different questions).
3. Powers: a multiset of base^exponent, from "^" and from words ("al cuadrado", "al cubo",
   "elevado a la n", "x cuadrado"), so "x^2" = "x al cuadrado" and "x^2+y" != "x+y^2".
   Products: a multiset of factor pairs, written or implicit ("2x" = "2*x" = "2 por x"), so
   "2x+3" != "3x+2" and "2+3*4" != "3+2*4".
4. Operators: a multiset of + - / = < > <= >= ≠ % | → (limits: "tiende a") and grouping
   brackets, from symbols or words ("mas", "menos", "entre", "sobre", "dividido por", "es igual
   a", "mayor que", "por ciento") when they stand between operands ("entre 0 y 1" is a range).
   All but + carry their operands ("8/2" != "2/8", "x+2=5" != "x+5=2", P(A|B) != P(B|A)).
   A + or - inside a function's brackets names the function: sqrt(x+1) != sqrt(x)+1. An
   argument without brackets ends at the next + or -, as it is read (sen^2x+cos^2x).
5. Functions and concepts: a set of canonical names, Spanish and English spellings of one
   function mapped to one name (sen = sin = seno, ln = "logaritmo natural", sqrt = raiz = √,
   deriv = derivada = derivar = f'(x), deriv2 = "segunda derivada" = f''(x), integral, lim,
   mcm, mcd, abs = "valor absoluto" = |x|, factorial = "!", pi = π, inf = infinito), different
   functions kept apart (log != ln, sen != cos != arcsen). The base of a logarithm is part of
   it (log_2 = "log base 2"). Ordinals ("segunda ley", "2da ley") count too.
6. Units: a multiset, attached to their number when they follow one ("30:deg", "72:km/h"), so
   "seno de 30 grados" = "sen(30°)" but "180 grados a radianes" != "180 radianes a grados".
   Unit words and symbols share one spelling (metros = m, grados = °, ohmios = Ω = ohm,
   "metros por segundo al cuadrado" = m/s^2).
7. Number bindings: a number next to a noun ("2 caras", "radio 3", "5 cm de lado") is bound to
   it; if both questions bind the same number to different nouns ("2 caras en 3 lanzamientos"
   against "3 caras en 2 lanzamientos") they differ. A missing binding is no conflict.
8. Content words: the remaining words minus Spanish stop words and question phrasing ("que es",
   "explicame", "como se calcula", "cuanto vale", "en que consiste", "para que sirve" = funcion),
   lightly stemmed (plural, gender, -cion, -ar) and with synonyms merged (promedio = media,
   tipica = estandar, disolucion = solucion, agua = h2o, "cloruro de sodio" = nacl). Words that
   only describe an expression ("ecuacion", "funcion", "valor", "puntos", "datos") are dropped
   when the question has one. Question words that change the ask ("donde", "por que", "quien")
   and negation ("no", "sin") are content. Content words must agree as sets: "mostly" means
   equal after stemming, synonyms and phrasing removal, not "most of them", because one
   differing word is exactly a near miss (mitosis/meiosis, ionico/covalente, area/perimetro,
   celula/celula eucariota).

Two questions are the same mathematics when numbers, variables, powers, products, operators,
functions and units are equal, targets agree (rule 2), no number binding conflicts and the
content words agree. A question with neither math nor words ("¿?", "hola") matches only itself.

Known limits: `normalize_text` casefolds and drops commas, so "Aa x Aa" and "AA x aa"
(genetics), "M" and "m", or "raiz de x+1" and "raiz de x, mas 1" are the same text before the
guard sees them; "(1,2)" is read as a point, not 1.2; unusual paraphrases ("para que valores de
x el seno de x es 1/2" for "sen(x)=1/2", "r=2 y h=5" for "radio 2 y altura 5") are rejected,
which costs an LLM call, never a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

# pg_trgm similarity() over normalized questions at or above which a stored answer is a
# candidate for reuse; `same_math` then decides. Measured with bench/near_duplicates.py on
# tests/fixtures/paraphrases.json: near misses are built to be textually close, so trigrams
# alone would reuse 38-99% of them at any threshold from 0.8 down to 0.3, and a higher
# threshold buys no safety, only fewer hits (0.3: 89% of paraphrases, 0.5: 65%). pg_trgm's own
# default, 0.3, is the lowest threshold the table covers; safety rests on the guard.
NEAR_DUPLICATE_THRESHOLD = 0.3


@dataclass(frozen=True)
class MathSignature:
    """What a question states, mathematically; equal signatures (see `same_math`) mean one
    question. Multisets are sorted tuples, sets are frozensets, so the value is hashable."""

    numbers: tuple[str, ...] = ()
    variables: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    powers: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    functions: frozenset[str] = frozenset()
    units: tuple[str, ...] = ()
    bindings: frozenset[tuple[str, str]] = frozenset()
    content: frozenset[str] = frozenset()
    descriptors: frozenset[str] = frozenset()  # content words that only describe an expression

    @property
    def has_expression(self) -> bool:
        return bool(
            self.numbers or self.variables or self.powers or self.products or self.operators
        )

    @property
    def is_empty(self) -> bool:
        return not (
            self.has_expression or self.functions or self.units or self.content or self.descriptors
        )


# --- Vocabulary -------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS: dict[str, str] = {
    **dict.fromkeys(["sen", "seno", "senos"], "sen"),
    **dict.fromkeys(["cos", "coseno", "cosenos"], "cos"),
    **dict.fromkeys(["tan", "tg", "tangente", "tangentes"], "tan"),
    **dict.fromkeys(["cot", "cotg", "ctg", "cotangente"], "cot"),
    **dict.fromkeys(["sec", "secante"], "sec"),
    **dict.fromkeys(["csc", "cosec", "cosecante"], "csc"),
    **dict.fromkeys(["arcsen", "arcsin", "asin", "arcoseno"], "arcsen"),
    **dict.fromkeys(["arccos", "acos", "arcocoseno"], "arccos"),
    **dict.fromkeys(["arctan", "arctg", "atan", "arcotangente"], "arctan"),
    **dict.fromkeys(["senh", "sinh"], "senh"),
    "cosh": "cosh",
    **dict.fromkeys(["tanh", "tgh"], "tanh"),
    **dict.fromkeys(["log", "logaritmo", "logaritmos"], "log"),
    "ln": "ln",
    **dict.fromkeys(["exp", "exponencial"], "exp"),
    **dict.fromkeys(["sqrt", "raiz"], "sqrt"),
    "cbrt": "cbrt",
    **dict.fromkeys(
        ["derivada", "derivadas", "derivar", "deriva", "derive", "derivo", "deriven"], "deriv"
    ),
    **dict.fromkeys(["derivacion", "derivando", "derivamos"], "deriv"),
    **dict.fromkeys(
        ["integral", "integrales", "integrar", "integra", "integro", "integre", "integracion"],
        "integral",
    ),
    **dict.fromkeys(["antiderivada", "primitiva", "integrando"], "integral"),
    **dict.fromkeys(["lim", "limite", "limites"], "lim"),
    **dict.fromkeys(["sumatoria", "sumatorio"], "sum"),
    **dict.fromkeys(["factorial", "factoriales"], "factorial"),
    **dict.fromkeys(["abs"], "abs"),
    **dict.fromkeys(["mcm", "lcm"], "mcm"),
    **dict.fromkeys(["mcd", "gcd", "mcd"], "mcd"),
}
# Names recognised inside an expression ("sen(x)", "lnx", "log_2(8)"); "sin" only there, since
# as a word it is the Spanish "without".
_EXPRESSION_FUNCTIONS: dict[str, str] = {
    name: canonical
    for name, canonical in {**_FUNCTION_WORDS, "sin": "sen"}.items()
    if len(name) <= 6 and name.isalpha()
}
_CONSTANTS: dict[str, str] = {"pi": "pi", "π": "pi", "inf": "inf", "infinito": "inf", "∞": "inf"}
_SYMBOL_FUNCTIONS = {"√": "sqrt", "∛": "cbrt", "∫": "integral", "∑": "sum"}

# Unit spellings → one symbol. Abbreviations are units only after a number (or in a conversion
# "... a m/s"); words like "metros" are units after a number, content words elsewhere.
_UNIT_WORDS: dict[str, str] = {
    **dict.fromkeys(["m", "metro", "metros"], "m"),
    **dict.fromkeys(["cm", "centimetro", "centimetros"], "cm"),
    **dict.fromkeys(["mm", "milimetro", "milimetros"], "mm"),
    **dict.fromkeys(["km", "kilometro", "kilometros"], "km"),
    **dict.fromkeys(["g", "gr", "gramo", "gramos"], "g"),
    **dict.fromkeys(["kg", "kilo", "kilos", "kilogramo", "kilogramos"], "kg"),
    **dict.fromkeys(["mg", "miligramo", "miligramos"], "mg"),
    **dict.fromkeys(["s", "seg", "segundo", "segundos"], "s"),
    **dict.fromkeys(["ms", "milisegundo", "milisegundos"], "ms"),
    **dict.fromkeys(["min", "minuto", "minutos"], "min"),
    **dict.fromkeys(["h", "hr", "hora", "horas"], "h"),
    **dict.fromkeys(["n", "newton", "newtons"], "n"),
    **dict.fromkeys(["j", "joule", "joules", "julio", "julios"], "j"),
    **dict.fromkeys(["kj", "kilojoule", "kilojoules", "kilojulios"], "kj"),
    **dict.fromkeys(["w", "watt", "watts", "vatio", "vatios"], "w"),
    **dict.fromkeys(["kw", "kilowatt", "kilowatts", "kilovatio", "kilovatios"], "kw"),
    **dict.fromkeys(["v", "volt", "volts", "voltio", "voltios"], "v"),
    **dict.fromkeys(["a", "amperio", "amperios", "ampere", "amperes"], "a"),
    **dict.fromkeys(["ma", "miliamperio", "miliamperios"], "ma"),
    **dict.fromkeys(["ohm", "ohms", "ohmio", "ohmios", "ω"], "ohm"),
    **dict.fromkeys(["c", "coulomb", "coulombs", "culombio", "culombios"], "c"),
    **dict.fromkeys(["mc", "milicoulomb", "milicoulombs"], "mc"),
    **dict.fromkeys(["μc", "microcoulomb", "microcoulombs"], "μc"),
    **dict.fromkeys(["nc", "nanocoulomb", "nanocoulombs"], "nc"),
    **dict.fromkeys(["l", "litro", "litros"], "l"),
    **dict.fromkeys(["ml", "mililitro", "mililitros"], "ml"),
    **dict.fromkeys(["mol", "moles"], "mol"),
    **dict.fromkeys(["atm", "atmosfera", "atmosferas"], "atm"),
    **dict.fromkeys(["pa", "pascal", "pascales"], "pa"),
    **dict.fromkeys(["kpa", "kilopascal", "kilopascales"], "kpa"),
    **dict.fromkeys(["hz", "hertz", "hercio", "hercios"], "hz"),
    **dict.fromkeys(["cal", "caloria", "calorias"], "cal"),
    **dict.fromkeys(["kcal", "kilocaloria", "kilocalorias"], "kcal"),
    **dict.fromkeys(["k", "kelvin"], "k"),
    **dict.fromkeys(["°", "grado", "grados"], "deg"),
    **dict.fromkeys(["°c", "celsius"], "degc"),
    **dict.fromkeys(["rad", "radian", "radianes"], "rad"),
}
_UNIT_SYMBOLS = sorted(
    (name for name in _UNIT_WORDS if len(name) <= 4 and not name.isdigit()), key=len, reverse=True
)
_UNIT_ATOM = "|".join(re.escape(name) for name in _UNIT_SYMBOLS)
# "km/h", "m/s^2", "m/s2" (a phone keyboard without ^), "cm^3"
_UNIT_EXPRESSION = re.compile(rf"(?:{_UNIT_ATOM})(?:/(?:{_UNIT_ATOM}))*(?:\^?[23])?")

_ORDINAL_WORDS: dict[str, int] = {
    **dict.fromkeys(["primer", "primera", "primero", "1er", "1ra", "1ro", "1o", "1a"], 1),
    **dict.fromkeys(["segundo", "segunda", "2do", "2da", "2o"], 2),
    **dict.fromkeys(["tercer", "tercera", "tercero", "3er", "3ra", "3ro", "3o"], 3),
    **dict.fromkeys(["cuarta", "4to", "4ta", "4o"], 4),
    **dict.fromkeys(["quinto", "quinta", "5to", "5ta", "5o"], 5),
}

_NUMBER_WORDS: dict[str, int] = {
    "cero": 0, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14,
    "quince": 15, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19,
    "veinte": 20, "veintiuno": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24,
    "veinticinco": 25, "veintiseis": 26, "veintisiete": 27, "veintiocho": 28,
    "veintinueve": 29, "treinta": 30, "cuarenta": 40, "cincuenta": 50, "sesenta": 60,
    "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100,
}  # fmt: skip
_TENS = {30, 40, 50, 60, 70, 80, 90}

# Multi-word expressions, longest first. The value is a list of (kind, value) items.
_PHRASES: dict[tuple[str, ...], list[tuple[str, str]]] = {
    ("valor", "absoluto"): [("func", "abs")],
    ("raiz", "cuadrada"): [("func", "sqrt")],
    ("raiz", "cubica"): [("func", "cbrt")],
    ("logaritmo", "natural"): [("func", "ln")],
    ("logaritmo", "neperiano"): [("func", "ln")],
    ("log", "natural"): [("func", "ln")],
    ("logaritmo", "decimal"): [("func", "log")],
    ("seno", "hiperbolico"): [("func", "senh")],
    ("coseno", "hiperbolico"): [("func", "cosh")],
    ("tangente", "hiperbolica"): [("func", "tanh")],
    ("arco", "seno"): [("func", "arcsen")],
    ("arco", "coseno"): [("func", "arccos")],
    ("arco", "tangente"): [("func", "arctan")],
    ("minimo", "comun", "multiplo"): [("func", "mcm")],
    ("maximo", "comun", "divisor"): [("func", "mcd")],
    ("logaritmo", "en", "base"): [("func", "log"), ("subnext", "")],  # log_2(8)
    ("logaritmo", "base"): [("func", "log"), ("subnext", "")],
    ("log", "en", "base"): [("func", "log"), ("subnext", "")],
    ("log", "base"): [("func", "log"), ("subnext", "")],
    ("con", "respecto", "a"): [("stop", "respecto")],
    ("respecto", "a"): [("stop", "respecto")],
    ("respecto", "al"): [("stop", "respecto")],
    ("respecto", "de"): [("stop", "respecto")],
    ("en", "funcion", "de"): [("stop", "respecto")],  # "logaritmo en base 2 de 8" is log_2(8)
    ("por", "ciento"): [("op", "%")],
    ("tiende", "a"): [("op", "→")],
    ("tiende", "al"): [("op", "→")],
    ("tendiendo", "a"): [("op", "→")],
    ("mas", "infinito"): [("const", "+inf")],
    ("menos", "infinito"): [("const", "-inf")],
    ("es", "igual", "a"): [("opword", "=")],
    ("igual", "a"): [("opword", "=")],
    ("mayor", "o", "igual", "que"): [("opword", ">=")],
    ("mayor", "o", "igual", "a"): [("opword", ">=")],
    ("menor", "o", "igual", "que"): [("opword", "<=")],
    ("menor", "o", "igual", "a"): [("opword", "<=")],
    ("mayor", "que"): [("opword", ">")],
    ("menor", "que"): [("opword", "<")],
    ("distinto", "de"): [("opword", "≠")],
    ("dividido", "por"): [("opword", "/")],
    ("dividido", "entre"): [("opword", "/")],
    ("multiplicado", "por"): [("opword", "*")],
    ("elevado", "al", "cuadrado"): [("exp", "2")],
    ("elevado", "al", "cubo"): [("exp", "3")],
    ("elevada", "al", "cuadrado"): [("exp", "2")],
    ("elevada", "al", "cubo"): [("exp", "3")],
    ("al", "cuadrado"): [("exp", "2")],
    ("al", "cubo"): [("exp", "3")],
    ("elevado", "a", "la"): [("expnext", "")],
    ("elevado", "a"): [("expnext", "")],
    ("elevada", "a", "la"): [("expnext", "")],
    ("elevada", "a"): [("expnext", "")],
    ("de", "primer", "grado"): [("word", "lineal")],
    ("de", "segundo", "grado"): [("word", "cuadratica")],
    ("de", "tercer", "grado"): [("word", "cubica")],
    ("paso", "a", "paso"): [],
    ("por", "favor"): [],
    ("en", "que", "consiste"): [],
    ("en", "que", "consisten"): [],
    ("por", "que"): [("word", "porque")],
    ("para", "que", "sirve"): [("word", "funcion")],
    ("que", "hace"): [("word", "funcion")],  # "que hace el arn mensajero"
    ("que", "hacen"): [("word", "funcion")],
    ("para", "que", "sirven"): [("word", "funcion")],
    ("para", "que", "se", "usa"): [("word", "funcion")],
    ("para", "que", "se", "usan"): [("word", "funcion")],
    ("desviacion", "estandar"): [("word", "desviacion_estandar")],
    ("desviacion", "tipica"): [("word", "desviacion_estandar")],
    ("cloruro", "de", "sodio"): [("word", "nacl")],
    ("cloruro", "de", "potasio"): [("word", "kcl")],
    ("dioxido", "de", "carbono"): [("word", "co2")],
    ("hidroxido", "de", "sodio"): [("word", "naoh")],
    ("acido", "clorhidrico"): [("word", "hcl")],
    ("acido", "sulfurico"): [("word", "h2so4")],
    ("agua", "oxigenada"): [("word", "h2o2")],
    ("peroxido", "de", "hidrogeno"): [("word", "h2o2")],
    ("un", "medio"): [("num", "0.5")],
}
_MAX_PHRASE = max(len(key) for key in _PHRASES)

# Spanish stop words: articles, prepositions, pronouns, auxiliaries, interrogatives that do not
# change the ask ("que es" and "como es" get one answer).
_STOP_WORDS = _words(
    """
    a al ante bajo con contra de del desde durante e el ella ellas ellos en entre esa esas ese
    eso esos esta estas este esto estos estan esta fue fueron ha han hay he la las le les lo los
    me mi mis muy nos o os otra otras otro otros para pero por que q k se sea ser si su sus te
    tu tus u un una uno unos unas y ya yo cual cuales cuyo cuya cuyos cuyas como cuanto cuanta
    cuantos cuantas cuando tal tan es son era sido siendo sera seria esto aqui ahi algo alguna
    alguno algunos algunas cada mas segun
    """
)
# How students phrase a request, not what they ask ("explicame", "como se calcula", "cuanto
# vale", "halla"): dropped.
_PHRASING_WORDS = _words(
    """
    explica explicame explicar explicarme explique expliques explicacion explicaras dime di decir
    dame ayuda ayudame ayudar ayudas quiero queria saber sabes necesito necesita necesitan
    necesario necesaria necesarios necesarias entender entiendo comprender puedes podrias puede
    pueden puedo porfa porfavor pls plis calcula calcular calculo calcule calcules calculamos
    calculando calcularlo calculas halla hallar hallo halle hallas encuentra encontrar encuentro
    encuentre encuentras determina determinar determino obten obtener obtengo obtiene obtienen
    resuelve resolver resuelvo resuelva resuelvas resolvemos resolviendo resolverlo significa
    significado consiste consisten define definir defineme definicion concepto describe
    describir describeme funciona funcionan hace hacen hacer hago sale salen salga salgan saco
    sacar saca da dan dar vale valen mide miden medir mido tiene tienen tener tengo realiza
    realizar realizan va van ir despeja despejar despejo despejando despeje sabe tarda tardan
    detalladamente rapido sencillo facil simple breve breveme tema pregunta ejercicio ayudarme
    hola gracias oye profe hallame diga digas mostrar muestrame ensename ensenar
    """
)
# Words that only describe an expression the question states anyway: dropped when it has one
# ("resuelve la ecuacion x^2=4" = "resuelve x^2=4"), kept otherwise ("que es una ecuacion").
_DESCRIPTOR_WORDS = _words(
    """
    ecuacion ecuaciones inecuacion inecuaciones desigualdad sistema expresion expresiones funcion
    funciones numero numeros resultado resultados valor valores dato datos operacion operaciones
    formula punto puntos polinomio cuadratica lineal trinomio binomio fraccion convierte
    convertir convierto conversion pasa pasar transforma transformar equivale
    siguiente siguientes
    """
)
# Spellings of one content word (before stemming).
_SYNONYMS: dict[str, str] = {
    "promedio": "media",
    "promedios": "media",
    "disolucion": "solucion",
    "disoluciones": "solucion",
    "interior": "interno",
    "interiores": "interno",
    "diferencian": "diferencia",
    "diferencias": "diferencia",
    "diferenciar": "diferencia",
    "difieren": "diferencia",
    "difiere": "diferencia",
    "demuestra": "demostrar",
    "demuestro": "demostrar",
    "demuestre": "demostrar",
    "demostracion": "demostrar",
    "prueba": "demostrar",
    "agua": "h2o",
    "amoniaco": "nh3",
    "metano": "ch4",
    "glucosa": "c6h12o6",
    "ocurre": "pasa",
    "ocurren": "pasa",
    "sucede": "pasa",
    "suceden": "pasa",
    "pesa": "peso",
    "cae": "caida",
    "caer": "caida",
    "caen": "caida",
    "pesan": "peso",
    "suman": "suma",
    "sumar": "suma",
    "carro": "auto",
    "coche": "auto",
    "automovil": "auto",
    "xq": "porque",
    "pq": "porque",
    "porq": "porque",
}
# Letter-only chemical formulas students type as words.
_FORMULA_WORDS = frozenset({"hcl", "nacl", "naoh", "kcl", "koh", "hbr", "hf", "kbr", "nabr"})
# Longest first: "aciones" before "es" before "s".
_SUFFIXES = (
    "aciones", "acion", "ciones", "cion", "es", "as", "os", "ar", "er", "ir", "a", "e", "o", "s",
)  # fmt: skip
_UNSTEMMED = frozenset({"porque", "donde", "quien", "no", "sin", "+mas", "-menos", "y", "o"})

_ELEMENTS = _words(
    """
    h he li be b c n o f ne na mg al si p s cl ar k ca sc ti v cr mn fe co ni cu zn ga ge as se
    br kr rb sr y zr nb mo tc ru rh pd ag cd in sn sb te i xe cs ba la ce pr nd pm sm eu gd tb dy
    ho er tm yb lu hf ta w re os ir pt au hg tl pb bi po at rn fr ra ac th pa u np pu am cm bk cf
    es fm md no lr
    """
)

# Letters that are Spanish words before they are variables.
_WORD_LETTERS = frozenset({"y", "a", "o", "e", "u"})
_CHAT_LETTERS = frozenset({"q", "k"})  # "q es", "k es": que
_FUNCTION_LETTERS = frozenset({"f", "g", "h"})  # f(x), g'(x): names of functions
# After these a letter is the unknown being asked for.
_TARGET_CUES = frozenset(
    {
        "despeja", "despejar", "despejo", "despejando", "despeje", "halla", "hallar", "encuentra",
        "encontrar", "calcula", "calcular", "variable", "incognita",
    }
)  # fmt: skip
# After these an ambiguous letter ("y", "a") is a variable: "derivada de y", "despeja y".
_VARIABLE_CUES = _TARGET_CUES | {"de", "sea", "respecto"}
_WORD_RUN = re.compile(r"[a-zñ]{4,}")
# Operators recorded with their operands: "8/2" != "2/8", "x+2=5" != "x+5=2".
_NON_COMMUTATIVE = frozenset({"-", "/", "<", ">", "<=", ">=", "→", "=", "|"})

_FUNCTION_DEFINITION = re.compile(r"(?<![a-z])[fgh]\(([a-z])\)=")
_LEIBNIZ = re.compile(r"(?<![a-z])d/d[a-z](?![a-z])")
_DIFFERENTIAL = re.compile(r"^d[a-z]$")
_WORD = re.compile(r"^[a-zñ]+$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*|\.\d+")
_ALNUM_RUN = re.compile(r"[a-zñ0-9]+")
_DIGITS = re.compile(r"\d+")


# --- Items ------------------------------------------------------------------------------------


@dataclass
class _Item:
    """One piece of a question. kind: num var const func fname sub subnext op times open close
    callopen callclose exp expnext power unit unitword word stop ord opword amb halfmark."""

    kind: str
    value: str
    simple: bool = False  # a number standing alone in the prose (may be bound to a noun)
    target: bool = False
    attached: bool = False  # a unit right after its number
    token: int = -1  # which whitespace-separated expression it came from; -1 for prose words


@dataclass
class _Builder:
    numbers: list[str] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    powers: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    functions: set[str] = field(default_factory=set)
    units: list[str] = field(default_factory=list)
    bindings: set[tuple[str, str]] = field(default_factory=set)
    content: set[str] = field(default_factory=set)
    descriptors: set[str] = field(default_factory=set)


def _canonical_number(text: str) -> str:
    text = text.replace(",", ".")
    if text.count(".") > 1:  # 1.000.000: thousands separators
        text = text.replace(".", "")
    try:
        value = Decimal(text).normalize()
    except InvalidOperation:
        return text
    return format(value, "f")


def _is_formula(chunk: str) -> bool:
    """A chemical formula such as h2o, co2, h2so4, o2: element symbols with counts."""
    if not any(ch.isdigit() for ch in chunk) or not chunk[0].isalpha():
        return False
    letters = "".join(ch for ch in chunk if ch.isalpha())
    if len(letters) == 1 and letters not in {"h", "o", "n"}:
        return False  # x2, a2: a variable and a number (or a power typed without ^)

    def parse(rest: str) -> bool:
        if not rest:
            return True
        for size in (2, 1):
            symbol = rest[:size]
            if len(symbol) == size and symbol.isalpha() and symbol in _ELEMENTS:
                after = rest[size:]
                digits = _DIGITS.match(after)
                if parse(after[digits.end() :] if digits else after):
                    return True
        return False

    return parse(chunk)


# --- Expressions ------------------------------------------------------------------------------


def _scan_expression(token: str) -> list[_Item]:
    """Items of a token that is not a plain word: "x^2-5x+6=0", "sen(30°)", "2,5", "72km/h"."""
    items: list[_Item] = []
    brackets: list[str] = []  # "call" or "group", to close the right kind
    # An even number of bars is |x| (abs); a lone bar is "given", as in P(A|B)
    bars_are_abs = token.count("|") % 2 == 0
    open_bars = 0
    index = 0
    while index < len(token):
        char = token[index]
        previous = items[-1] if items else None
        if char.isdigit() or (char == "." and token[index + 1 : index + 2].isdigit()):
            match = _NUMBER.match(token, index)
            assert match is not None
            text = match.group()
            index = match.end()
            in_group = bool(brackets) and brackets[-1] == "group"
            parts = text.split(",") if "," in text and (in_group or text.count(",") > 1) else [text]
            items.extend(_Item("num", _canonical_number(part)) for part in parts if part)
            unit = _UNIT_EXPRESSION.match(token, index)
            if unit and (unit.end() == len(token) or token[unit.end()] in ")],"):
                items.append(_Item("unit", _canonical_unit(unit.group()), attached=True))
                index = unit.end()
            continue
        if (char.isalpha() and char.isascii()) or char == "ñ":
            run_match = _ALNUM_RUN.match(token, index)
            assert run_match is not None
            chunk = run_match.group()
            letters = re.match(r"[a-zñ]+", token[index:])
            assert letters is not None
            run = letters.group()
            if _is_formula(chunk) and not any(chunk.startswith(f) for f in _EXPRESSION_FUNCTIONS):
                items.append(_Item("word", chunk))
                index += len(chunk)
                continue
            index += len(run)
            items.extend(_letter_run(run, token, index, previous))
            continue
        index += 1
        if char == "^":
            exponent, index = _read_exponent(token, index)
            items.append(_Item("exp", exponent))
        elif char in "([{":
            is_call = previous is not None and (
                previous.kind in {"func", "fname"}
                or (previous.kind in {"exp", "sub"} and len(items) > 1 and items[-2].kind == "func")
            )
            brackets.append("call" if is_call else "group")
            items.append(_Item("callopen" if is_call else "open", "("))
        elif char in ")]}":
            kind = brackets.pop() if brackets else "group"
            items.append(_Item("callclose" if kind == "call" else "close", ")"))
        elif char == "'":
            primes = 1
            while token[index : index + 1] == "'":
                primes += 1
                index += 1
            items.append(_Item("func", "deriv" if primes == 1 else f"deriv{primes}"))
            if (
                previous is not None
                and previous.kind == "var"
                and previous.value in _FUNCTION_LETTERS
            ):
                previous.kind = "fname"
            # the argument list that follows belongs to the derivative
            items.append(_Item("fname", "'"))
        elif char == "!":
            items.append(_Item("func", "factorial"))
        elif char in "<>" and token[index : index + 1] == "=":
            items.append(_Item("op", char + "="))
            index += 1
        elif char == "|" and bars_are_abs:
            if open_bars and previous is not None and previous.kind not in {"op", "callopen"}:
                open_bars -= 1
                items.append(_Item("callclose", ")"))
            else:
                open_bars += 1
                items.extend([_Item("func", "abs"), _Item("callopen", "(")])
        elif char == "_" and previous is not None and previous.kind == "func":
            subscript, index = _read_exponent(token, index)
            items.append(_Item("sub", subscript))
        elif char in "+-=<>≠/%→|":
            items.append(_Item("op", char))
        elif char == "*":
            items.append(_Item("times", "*"))
        elif char == "°":
            if token[index : index + 1] == "c":
                index += 1
                items.append(_Item("unit", "degc", attached=True))
            else:
                items.append(_Item("unit", "deg", attached=True))
        elif char in _CONSTANTS:
            items.append(_Item("const", _CONSTANTS[char]))
        elif char in _SYMBOL_FUNCTIONS:
            items.append(_Item("func", _SYMBOL_FUNCTIONS[char]))
        elif char == "ω" and previous is not None and previous.kind == "num":
            items.append(_Item("unit", "ohm", attached=True))
        elif char.isalpha():  # Greek letters: θ, α, μ, σ, δ
            items.append(_Item("var", char))
        # anything else ("_" of a subscript, stray marks) says nothing by itself
    return items


def _is_math_run(run: str) -> bool:
    """A run of letters that reads as mathematics: "sen", "arcsenx", "pi", "lnx"."""
    if run in _EXPRESSION_FUNCTIONS or run in _CONSTANTS:
        return True
    return any(
        run[:size] in _EXPRESSION_FUNCTIONS and len(run) - size <= 2
        for size in range(2, min(len(run), 7))
    )


def _letter_run(run: str, token: str, end: int, previous: _Item | None) -> list[_Item]:
    """A run of letters inside an expression: a function, a constant, variables or a word."""
    following = token[end : end + 1]
    if run in _EXPRESSION_FUNCTIONS:
        return [_Item("func", _EXPRESSION_FUNCTIONS[run])]
    if run in _CONSTANTS:
        return [_Item("const", _CONSTANTS[run])]
    for size in range(min(len(run) - 1, 6), 1, -1):  # "senx", "lnx", "cos2x" (run "cos")
        head, tail = run[:size], run[size:]
        if head in _EXPRESSION_FUNCTIONS and len(tail) <= 2:
            return [_Item("func", _EXPRESSION_FUNCTIONS[head])] + [_Item("var", c) for c in tail]
    if len(run) > 3:
        return [_Item("word", run)]
    items: list[_Item] = []
    for offset, letter in enumerate(run):
        after = run[offset + 1 : offset + 2] or following
        before_is_digit = offset == 0 and previous is not None and previous.kind == "num"
        if letter == "x" and before_is_digit and len(run) == 1 and following.isdigit():
            items.append(_Item("times", "*"))  # 8x3
        elif letter == "e" and after == "^":
            items.append(_Item("const", "e"))
        elif letter in _FUNCTION_LETTERS and after in {"(", "'"}:
            items.append(_Item("fname", letter))
        else:
            items.append(_Item("var", letter))
    return items


def _read_exponent(token: str, index: int) -> tuple[str, int]:
    """The exponent after "^": a bracketed group (brackets dropped), or a signed number or
    letter. Returns it and the index after it."""
    if token[index : index + 1] in {"(", "{", "["}:
        depth = 0
        for position in range(index, len(token)):
            if token[position] in "({[":
                depth += 1
            elif token[position] in ")}]":
                depth -= 1
                if depth == 0:
                    return token[index + 1 : position], position + 1
        return token[index + 1 :], len(token)
    match = re.match(r"[+-]?(?:\d+(?:[.,]\d+)?|[a-zα-ω])", token[index:])
    if match is None:
        return "", index
    return match.group(), index + match.end()


def _canonical_unit(text: str) -> str:
    parts = text.split("/")
    power = ""
    last = parts[-1]
    tail = re.search(r"\^?([23])$", last)
    if tail and last[: tail.start()] in _UNIT_WORDS:
        power = "^" + tail.group(1)
        parts[-1] = last[: tail.start()]
    return "/".join(_UNIT_WORDS.get(part, part) for part in parts) + power


# --- Words ------------------------------------------------------------------------------------


def _tokenize(normalized: str) -> list[_Item]:
    text = normalized.replace("->", "→")
    text = _FUNCTION_DEFINITION.sub(" ", text)  # "f(x)=x^2" states x^2
    text = _LEIBNIZ.sub(" derivada ", text)
    # normalize_text glues words to operators ("absoluto|x-3|"): words stand apart again
    text = _WORD_RUN.sub(lambda m: m.group() if _is_math_run(m.group()) else f" {m.group()} ", text)
    items: list[_Item] = []
    words: list[str] = []

    def flush() -> None:
        items.extend(_classify_words(words))
        words.clear()

    for position, token in enumerate(text.split()):
        if _WORD.match(token) or token in _ORDINAL_WORDS:
            words.append(token)
            continue
        flush()
        if _UNIT_EXPRESSION.fullmatch(token):
            items.append(_Item("unitword", token))  # "m/s", "km/h", "m/s^2" after a number
            continue
        scanned = _scan_expression(token)
        if not any(item.kind not in {"word", "op", "times"} for item in scanned):
            # "acido-base", "y/o": words joined by punctuation, no mathematics
            words.extend(item.value for item in scanned if item.kind == "word")
            continue
        if [item.kind for item in scanned] in (["num"], ["num", "unit"]):
            scanned[0].simple = True
        for item in scanned:
            item.token = position
        items.extend(scanned)
    flush()
    return items


def _classify_words(words: list[str]) -> list[_Item]:
    """Plain words, phrases first (longest match), then one by one."""
    items: list[_Item] = []
    index = 0
    while index < len(words):
        for size in range(min(_MAX_PHRASE, len(words) - index), 0, -1):
            key = tuple(words[index : index + size])
            if key in _PHRASES:
                items.extend(_Item(kind, value) for kind, value in _PHRASES[key])
                index += size
                break
        else:
            items.append(_classify_word(words[index]))
            index += 1
    return items


def _classify_word(word: str) -> _Item:
    if word in _NUMBER_WORDS:
        return _Item("num", str(_NUMBER_WORDS[word]), simple=True)
    if word == "segundo":
        return _Item("unitword", word)  # "10 metros por segundo", else "segunda ley"
    if word in _ORDINAL_WORDS:
        return _Item("ord", str(_ORDINAL_WORDS[word]))
    if word in _FUNCTION_WORDS and word not in {"tan"}:
        return _Item("func", _FUNCTION_WORDS[word])
    if word in _CONSTANTS:
        return _Item("const", _CONSTANTS[word])
    if word in _FORMULA_WORDS:
        return _Item("word", word)
    if word in {"mas", "menos", "por", "entre", "sobre", "tan", "sin", "x", "medio"}:
        return _Item("opword", word)  # resolved by its neighbours
    if word in _STOP_WORDS or word in _PHRASING_WORDS:
        if len(word) == 1 and word in _WORD_LETTERS | _CHAT_LETTERS:
            return _Item("amb", word)
        return _Item("stop", word)
    if len(word) == 1:
        return _Item("amb" if word in _WORD_LETTERS | _CHAT_LETTERS else "var", word)
    if _DIFFERENTIAL.match(word):
        return _Item("stop", word)  # the dx of an integral
    if word in _UNIT_WORDS:
        return _Item("unitword", word)
    return _Item("word", word)


# --- Context ----------------------------------------------------------------------------------

_OPERAND_END = {"num", "var", "const", "close", "callclose", "exp", "unit", "halfmark"}


def _ends_operand(item: _Item | None) -> bool:
    return item is not None and item.kind in _OPERAND_END


def _starts_operand(item: _Item | None) -> bool:
    if item is not None and item.kind == "opword" and item.value == "x":
        return True  # "2 por x": the letter, not "por" in disguise
    return item is not None and item.kind in {"num", "var", "const", "open", "func", "fname"}


def _resolve(items: list[_Item]) -> list[_Item]:
    """Decide what the context-dependent words are: operator words, ambiguous letters, unit
    words, "cuadrado" after an operand, ordinals before "derivada", number-word compounds."""
    out: list[_Item] = []
    seen_unit = False
    for index, item in enumerate(items):
        before = out[-1] if out else None
        before2 = out[-2] if len(out) > 1 else None
        after = items[index + 1] if index + 1 < len(items) else None
        after2 = items[index + 2] if index + 2 < len(items) else None
        kind, value = item.kind, item.value

        if kind == "amb" and value in _CHAT_LETTERS:
            # "q es ..." is que; a q at the end or before an operator is a variable ("p y q")
            is_variable = after is None or after.kind in {"op", "exp", "expnext"}
            out.append(_Item("var", value) if is_variable else _Item("stop", value))
            continue

        if kind == "amb" and before is not None and before.kind == "var" and after is not None:
            # "p y q" / "p o q" (logic), "x e y": the conjunction joins variables and counts
            joins = after.kind == "var" or (after.kind == "amb" and after.value in _CHAT_LETTERS)
            if joins and value in {"y", "e", "o", "u"}:
                out.append(_Item("word", "y" if value in {"y", "e"} else "o"))
                continue

        if kind == "amb":
            mathematical = (
                (before is not None and before.kind in {"word", "stop", "amb", "func"}
                 and before.value in _VARIABLE_CUES and value in {"y", "a"})
                or (after is not None and after.kind in {"exp", "expnext"})
                or (after is not None and after.kind == "opword"
                    and after.value in {"mas", "menos", "="}
                    and _starts_operand(after2))
                or (before is not None and before.kind == "op")
            )  # fmt: skip
            if value == "a" and before is not None and before.kind == "num" and after is None:
                out.append(_Item("unit", "a", attached=True))  # "con 20 A": amperes
                seen_unit = True
                continue
            if value == "e" and mathematical:
                out.append(_Item("const", "e"))
            elif mathematical:
                out.append(_Item("var", value, target=_is_target(before, before2)))
            else:
                out.append(_Item("stop", value))
            continue

        if kind == "var":
            if before is not None and before.kind == "num" and value in _UNIT_WORDS:
                out.append(_Item("unit", _UNIT_WORDS[value], attached=True))
                seen_unit = True
                continue
            if (
                seen_unit
                and value in _UNIT_WORDS
                and before is not None
                and before.value in {"a", "en"}
            ):
                out.append(_Item("unit", _UNIT_WORDS[value]))
                continue
            item.target = _is_target(before, before2)
            out.append(item)
            continue

        if kind == "unitword":
            unit = _canonical_unit(value)
            if before is not None and before.kind == "num":
                out.append(_Item("unit", unit, attached=True))
                seen_unit = True
            elif before is not None and before.kind == "opword" and before.value == "/":
                out.pop()
                _compose_unit(out, unit)
            elif seen_unit and before is not None and before.value in {"a", "en"}:
                out.append(_Item("unit", unit))
            elif value in _ORDINAL_WORDS:
                out.append(_Item("ord", str(_ORDINAL_WORDS[value])))
            else:
                out.append(_Item("word", value))
            continue

        if kind == "unit":
            seen_unit = True
            if before is not None and before.kind == "num" and not item.attached:
                item.attached = True
            out.append(item)
            continue

        if kind == "opword":
            resolved = _resolve_operator_word(value, before, after, after2)
            if resolved is None:
                if value in {"mas", "menos"}:
                    out.append(_Item("word", "+mas" if value == "mas" else "-menos"))
                elif value == "sin":
                    out.append(_Item("word", "sin"))
                elif value == "x":
                    out.append(_Item("var", "x", target=_is_target(before, before2)))
                elif value == "=":
                    out.append(_Item("word", "igual"))
                elif value in {">", "<", ">=", "<="}:
                    out.append(_Item("word", "mayor" if ">" in value else "menor"))
                elif value == "medio":
                    out.append(_Item("word", "medio"))
                else:
                    out.append(_Item("stop", value))
            else:
                out.append(resolved)
            continue

        if kind == "exp" and before is not None and before.kind == "unit":
            before.value += "^" + value  # metros cuadrados, m/s al cuadrado
            continue

        if kind == "word" and value in {"cuadrado", "cuadrados", "cubo", "cubico", "cubicos"}:
            power = "2" if value.startswith("cuadrado") else "3"
            if before is not None and before.kind == "unit":
                before.value += "^" + power
                continue
            after_operand = before is not None and before.kind in {"var", "num", "close"}
            if after_operand and value in {"cuadrado", "cubo"}:  # "x cuadrado"
                out.append(_Item("exp", power))
                continue

        if _is_units_after_tens(item, before, before2) and before2 is not None:
            out.pop()  # treinta y cinco: one number
            before2.value = str(int(before2.value) + int(value))
            continue

        if kind == "func" and value == "deriv" and before is not None and before.kind == "ord":
            out.pop()
            order = int(before.value)
            out.append(_Item("func", "deriv" if order == 1 else f"deriv{order}"))
            continue

        out.append(item)
    return out


def _is_units_after_tens(item: _Item, before: _Item | None, before2: _Item | None) -> bool:
    return (
        item.kind == "num"
        and item.simple
        and item.value.isdigit()
        and 0 < int(item.value) < 10
        and before is not None
        and before.value == "y"
        and before2 is not None
        and before2.kind == "num"
        and before2.simple
        and before2.value.isdigit()
        and int(before2.value) in _TENS
    )


def _is_target(before: _Item | None, before2: _Item | None) -> bool:
    if before is None:
        return False
    if before.value in _TARGET_CUES or before.value == "respecto":
        return True
    return before.value == "de" and before2 is not None and before2.value in {"valor", "valores"}


def _resolve_operator_word(
    word: str, before: _Item | None, after: _Item | None, after2: _Item | None
) -> _Item | None:
    between = _ends_operand(before) and _starts_operand(after)
    if word in {"=", ">", "<", ">=", "<=", "≠", "/", "*"}:
        return _Item("op" if word != "*" else "times", word) if between else None
    if word in {"mas", "menos"}:
        symbol = "+" if word == "mas" else "-"
        if between or (not _ends_operand(before) and _starts_operand(after)):
            return _Item("op", symbol)
        return None
    if word == "por":
        if _ends_operand(before) and before is not None and before.kind == "unit":
            if after is not None and after.kind in {"unitword", "var"}:
                return _Item("opword", "/")  # metros por segundo
            return None
        return _Item("times", "*") if between else None
    if word == "sobre":
        return _Item("op", "/") if between else None
    if word in {"entre", "x"}:
        # "12 entre 4" divides, "entre 0 y 1" is a range; "3 x 4" multiplies
        numbers = before is not None and before.kind == "num"
        numbers = numbers and after is not None and after.kind == "num"
        if word == "x":
            return _Item("times", "*") if numbers else None
        is_range = after2 is not None and after2.value == "y"
        return _Item("op", "/") if numbers and not is_range else None
    if word in {"tan", "sin"}:
        if after is not None and after.kind in {"num", "var", "open", "const"}:
            return _Item("func", "tan" if word == "tan" else "sen")
        return None
    if word == "medio":
        if before is not None and before.kind == "stop" and before.value == "y":
            return _Item("halfmark", "")
        return None
    return None


def _compose_unit(out: list[_Item], unit: str) -> None:
    """metros por segundo: the unit before "por" becomes m/s."""
    for item in reversed(out):
        if item.kind == "unit":
            item.value = f"{item.value}/{unit}"
            return
    out.append(_Item("unit", unit))


# --- Signature --------------------------------------------------------------------------------


# Factors of a product: "2x", "x^2 sen(x)", "2(x+1)"; written or implicit, one product.
_FACTOR_END = {"num", "var", "const", "close", "callclose", "power"}
_FACTOR_START = {"num", "var", "const", "func", "open"}
_POSTFIX_FUNCTIONS = {"factorial", "deriv", "deriv2", "deriv3", "deriv4"}


def _atom(item: _Item | None) -> str:
    if item is None or item.kind not in _OPERAND_END | {"open", "callopen", "func", "power"}:
        return ""
    return item.value


def _stem(word: str) -> str:
    word = _SYNONYMS.get(word, word)
    if word in _UNSTEMMED or not word.isalpha() or "_" in word:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def math_signature(normalized: str) -> MathSignature:
    """The mathematics (and content words) a normalized question states; see the module rules."""
    items = _resolve(_tokenize(normalized))
    built = _Builder()
    previous: _Item | None = None
    multiplier: _Item | None = None  # the left factor of an explicit "*" or "por"
    scopes: list[str] = []  # open brackets, innermost last: "(" or the function called
    closed_call = ""  # the function whose argument list closed last: sen(x)^2
    last_function = ""
    index = 0
    while index < len(items):
        item = items[index]
        kind, value = item.kind, item.value
        index += 1
        following = items[index] if index < len(items) else None
        if kind in _FACTOR_START and value not in _POSTFIX_FUNCTIONS:
            left = multiplier or (previous if _implicit_product(previous, item) else None)
            if left is not None:
                built.products.append(f"{_atom(left)}·{_atom(item)}")
        multiplier = None
        if kind in {"expnext", "subnext"}:
            # "elevado a la 2x": the exponent is the whole next expression (or word)
            end = min(index + 1, len(items))
            token = items[index].token if index < len(items) else -1
            while token >= 0 and end < len(items) and items[end].token == token:
                end += 1
            argument = "".join(_atom(part) or part.value for part in items[index:end])
            index = end
            if kind == "subnext":
                built.functions.add(f"{last_function}_{argument}")
                continue
            previous = _add_power(built, previous, argument)
            continue
        if kind == "num":
            built.numbers.append(value)
        elif kind == "halfmark":
            if built.numbers:
                half = Decimal(built.numbers[-1]) + Decimal("0.5")
                built.numbers[-1] = _canonical_number(str(half))
        elif kind == "var":
            built.variables.add(value)
            if item.target:
                built.targets.add(value)
        elif kind in {"const", "func"}:
            built.functions.add(value)
            last_function = value
        elif kind == "sub":
            built.functions.add(f"{last_function}_{value}")  # log_2(8): the base of the log
            continue
        elif kind == "ord":
            built.functions.add(f"ord{value}")
        elif kind == "exp":
            after_call = index > 1 and items[index - 2].kind == "callclose"
            base = _Item("func", f"{closed_call}()") if after_call else previous
            item = _add_power(built, base, value)
        elif kind in {"callopen", "open"}:
            scopes.append(_atom(previous) if kind == "callopen" else "(")
            if kind == "callopen":
                continue
            built.operators.append("()")
        elif kind in {"callclose", "close"}:
            scope = scopes.pop() if scopes else ""
            if kind == "callclose":
                closed_call = scope
                continue  # sen(x)=1 is senx=1: the argument is the operand
        elif kind == "times":
            multiplier = previous if previous is not None and previous.kind in _FACTOR_END else None
            continue
        elif kind == "op":
            # sqrt(x+1) != sqrt(x)+1: a sum inside an argument list names its function. Only
            # sums: sen(pi/6) is what "seno de pi/6" means, and an argument written without
            # brackets (sen^2x+cos^2x) ends at the next + or -, as it is read.
            inside_call = bool(scopes) and scopes[-1] != "(" and value in {"+", "-"}
            scope = f"{scopes[-1]}:" if inside_call else ""
            if value in _NON_COMMUTATIVE:
                built.operators.append(f"{scope}{_atom(previous)}{value}{_atom(following)}")
            else:
                built.operators.append(f"{scope}{value}")
        elif kind == "unit":
            attached = item.attached and previous is not None and previous.kind == "num"
            built.units.append(f"{previous.value}:{value}" if attached and previous else value)
        elif kind == "word":
            (built.descriptors if value in _DESCRIPTOR_WORDS else built.content).add(_stem(value))
        previous = item
    _add_bindings(built, items)
    return MathSignature(
        numbers=tuple(sorted(built.numbers)),
        variables=frozenset(built.variables),
        targets=frozenset(built.targets),
        powers=tuple(sorted(built.powers)),
        products=tuple(sorted(built.products)),
        operators=tuple(sorted(built.operators)),
        functions=frozenset(built.functions),
        units=tuple(sorted(built.units)),
        bindings=frozenset(built.bindings),
        content=frozenset(built.content),
        descriptors=frozenset(built.descriptors),
    )


def _add_power(built: _Builder, base: _Item | None, exponent: str) -> _Item:
    """Record base^exponent; returns the power, the operand that operators then see. A power of
    a function (sen^2) still takes its argument, like the function."""
    base_text = "()" if base is not None and base.kind in {"close", "callclose"} else _atom(base)
    power = f"{base_text}^{exponent}"
    built.powers.append(power)
    is_function = base is not None and base.kind == "func"
    return _Item("func" if is_function else "power", power, token=base.token if base else -1)


def _implicit_product(left: _Item | None, right: _Item) -> bool:
    """ "2x", "3(x+1)", "xy" inside one expression; across a space only "x^2 sen(x)"."""
    if left is None or left.kind not in _FACTOR_END or left.token < 0 or right.token < 0:
        return False
    if left.token == right.token:
        return not (left.kind == "num" and right.kind == "num")
    return right.kind == "func" and left.kind in {"power", "var", "close"}


def _add_bindings(built: _Builder, items: list[_Item]) -> None:
    """Bind each number standing alone in the prose to the noun after it ("2 caras", skipping
    its unit and a "de": "5 cm de lado") or else before it ("radio 3", skipping up to two stop
    or phrasing words: "el radio mide 3")."""
    for index, item in enumerate(items):
        if item.kind != "num" or not item.simple:
            continue
        noun = None
        position = index + 1
        if position < len(items) and items[position].kind == "unit":
            position += 1
        if position < len(items) and items[position].value == "de":
            position += 1
        if position < len(items) and items[position].kind == "word":
            noun = items[position].value
        else:
            skipped = 0
            position = index - 1
            while position >= 0 and skipped <= 2:
                candidate = items[position]
                if candidate.kind == "word":
                    if candidate.value in _PHRASING_WORDS:
                        skipped += 1
                        position -= 1
                        continue
                    noun = candidate.value
                    break
                if candidate.kind != "stop":
                    break
                skipped += 1
                position -= 1
        if noun is not None:
            built.bindings.add((item.value, _stem(noun)))


# --- Comparison -------------------------------------------------------------------------------


def _conflicting(a: Iterable[tuple[str, str]], b: Iterable[tuple[str, str]]) -> bool:
    nouns_a: dict[str, set[str]] = {}
    nouns_b: dict[str, set[str]] = {}
    for number, noun in a:
        nouns_a.setdefault(number, set()).add(noun)
    for number, noun in b:
        nouns_b.setdefault(number, set()).add(noun)
    return any(nouns_a[n] != nouns_b[n] for n in nouns_a.keys() & nouns_b.keys())


def _content(signature: MathSignature) -> frozenset[str]:
    if signature.has_expression:
        return signature.content
    return signature.content | signature.descriptors


def same_math(a_normalized: str, b_normalized: str) -> bool:
    """True when two normalized questions state the same mathematics (see the module rules), so
    one's answer may be reused for the other."""
    if a_normalized == b_normalized:
        return True
    a, b = math_signature(a_normalized), math_signature(b_normalized)
    if a.is_empty or b.is_empty:
        return False  # nothing to compare: only the identical text is the same question
    if (
        a.numbers != b.numbers
        or a.variables != b.variables
        or a.powers != b.powers
        or a.products != b.products
        or a.operators != b.operators
        or a.functions != b.functions
        or a.units != b.units
    ):
        return False
    if len(a.variables) >= 2 and a.targets != b.targets:
        return False
    if _conflicting(a.bindings, b.bindings):
        return False
    return _content(a) == _content(b)
