"""ICAO 9303 machine-readable zones: formats, check digits, parsing, confusable-character correction.

Pure Python (no numpy, no torch): the training code and the ONNX inference module share it.

Formats, told apart by line count, line length and the first character:

====== ===== ====== =========================================
format lines length documents
====== ===== ====== =========================================
TD1    3     30     ID cards
TD2    2     36     ID cards, older travel documents
TD3    2     44     passports
MRVA   2     44     visas, format A (first character ``V``)
MRVB   2     36     visas, format B (first character ``V``)
====== ===== ====== =========================================

>>> check_digit("L898902C3")
6
>>> result = parse(["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"])
>>> result.format, result.fields["surname"], result.all_valid
('TD3', 'ERIKSSON', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = [
    "ALPHABET",
    "FORMATS",
    "MRZError",
    "ParseResult",
    "check_digit",
    "detect_format",
    "field_layout",
    "parse",
    "validate_lines",
]

#: Characters an MRZ may hold. ``<`` is the filler.
ALPHABET = "<0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUES = {c: (0 if c == "<" else int(c) if c.isdigit() else ord(c) - ord("A") + 10) for c in ALPHABET}
_WEIGHTS = (7, 3, 1)

#: format -> (line count, line length)
FORMATS: Dict[str, Tuple[int, int]] = {
    "TD1": (3, 30),
    "TD2": (2, 36),
    "TD3": (2, 44),
    "MRVA": (2, 44),
    "MRVB": (2, 36),
}

# Field kinds decide which confusable characters may be corrected by type alone:
# "num" holds digits only, "alpha" letters and fillers, "alnum" anything (only a check digit decides there).
NUM, ALPHA, ALNUM, SEX = "num", "alpha", "alnum", "sex"

#: Letters read where a digit must be, and the digit each one stands for (one each, so the fix is unique).
LETTER_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "U": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6", "T": "7", "B": "8"}
#: Digits read where a letter must be, and the letter each one stands for.
DIGIT_TO_LETTER = {"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B"}
#: Characters that look alike; a check digit may choose among these swaps.
CONFUSABLE: Dict[str, Tuple[str, ...]] = {}
for _l, _d in LETTER_TO_DIGIT.items():
    CONFUSABLE.setdefault(_l, ())
    CONFUSABLE[_l] += (_d,)
    CONFUSABLE.setdefault(_d, ())
    CONFUSABLE[_d] += (_l,)


class MRZError(ValueError):
    """MRZ text that breaks the format (line count or length, characters outside ``A-Z0-9<``)."""


@dataclass(frozen=True)
class Field:
    """A field: where it is, what it may hold, and the check digit guarding it."""

    name: str
    line: int
    start: int
    end: int
    kind: str
    check: Optional[Tuple[int, int]] = None  # (line, position) of its check digit


@dataclass(frozen=True)
class Composite:
    """The composite check digit and the ``(line, start, end)`` spans it covers."""

    at: Tuple[int, int]
    spans: Tuple[Tuple[int, int, int], ...]


def _td3_like(length: int, composite: bool, optional_check: bool) -> Tuple[List[Field], Optional[Composite]]:
    # Line 2 ends with [optional data][its check digit?][composite check digit?].
    optional_end = length - int(composite) - int(optional_check)
    fields = [
        Field("document_code", 0, 0, 2, ALPHA),
        Field("issuing_state", 0, 2, 5, ALPHA),
        Field("names", 0, 5, length, ALPHA),
        Field("document_number", 1, 0, 9, ALNUM, (1, 9)),
        Field("nationality", 1, 10, 13, ALPHA),
        Field("birth_date", 1, 13, 19, NUM, (1, 19)),
        Field("sex", 1, 20, 21, SEX),
        Field("expiry_date", 1, 21, 27, NUM, (1, 27)),
        Field("optional_data", 1, 28, optional_end, ALNUM, (1, optional_end) if optional_check else None),
    ]
    comp = None
    if composite:
        comp = Composite((1, length - 1), ((1, 0, 10), (1, 13, 20), (1, 21, length - 1)))
    return fields, comp


_TD1_FIELDS = [
    Field("document_code", 0, 0, 2, ALPHA),
    Field("issuing_state", 0, 2, 5, ALPHA),
    Field("document_number", 0, 5, 14, ALNUM, (0, 14)),
    Field("optional_data_1", 0, 15, 30, ALNUM),
    Field("birth_date", 1, 0, 6, NUM, (1, 6)),
    Field("sex", 1, 7, 8, SEX),
    Field("expiry_date", 1, 8, 14, NUM, (1, 14)),
    Field("nationality", 1, 15, 18, ALPHA),
    Field("optional_data_2", 1, 18, 29, ALNUM),
    Field("names", 2, 0, 30, ALPHA),
]
_TD1_COMPOSITE = Composite((1, 29), ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29)))

_LAYOUTS: Dict[str, Tuple[List[Field], Optional[Composite]]] = {
    "TD1": (_TD1_FIELDS, _TD1_COMPOSITE),
    "TD2": _td3_like(36, composite=True, optional_check=False),
    "TD3": _td3_like(44, composite=True, optional_check=True),
    "MRVA": _td3_like(44, composite=False, optional_check=False),
    "MRVB": _td3_like(36, composite=False, optional_check=False),
}


def field_layout(fmt: str) -> Tuple[List[Field], Optional[Composite]]:
    """The fields and the composite check digit (``None`` for visas) of a format."""
    return _LAYOUTS[fmt]


def check_digit(text: str) -> int:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating; ``<`` counts 0, ``A``-``Z`` 10-35; sum mod 10.

    Raises:
        MRZError: a character outside ``A-Z0-9<``.
    """
    total = 0
    for i, c in enumerate(text):
        if c not in _VALUES:
            raise MRZError(f"character {c!r} is not allowed in an MRZ (A-Z, 0-9, <)")
        total += _VALUES[c] * _WEIGHTS[i % 3]
    return total % 10


def detect_format(lines: Sequence[str]) -> Optional[str]:
    """The format from line count, line length and the first character; ``None`` if none fits."""
    shape = (len(lines), len(lines[0]) if lines else 0)
    if any(len(line) != shape[1] for line in lines):
        return None
    visa = bool(lines) and lines[0][:1] == "V"
    for name, fmt_shape in FORMATS.items():
        if fmt_shape == shape and name.startswith("MRV") == visa:
            return name
    for name, fmt_shape in FORMATS.items():  # a visa-shaped read whose first letter was misread
        if fmt_shape == shape:
            return name
    return None


def validate_lines(lines: Sequence[str]) -> str:
    """Check a label: the format from line count and length, and the characters. Returns the format.

    Raises:
        MRZError: with a one-line message saying what is wrong.
    """
    if not lines:
        raise MRZError("no MRZ lines")
    lengths = [len(line) for line in lines]
    shapes = ", ".join(f"{n}x{m} ({k})" for k, (n, m) in FORMATS.items() if not k.startswith("MRV"))
    if len(set(lengths)) != 1 or detect_format(lines) is None:
        raise MRZError(f"{len(lines)} lines of length {'/'.join(map(str, lengths))}; an MRZ has {shapes}")
    for n, line in enumerate(lines, 1):
        for i, c in enumerate(line, 1):
            if c not in _VALUES:
                hint = f" (did you mean {c.upper()!r}?)" if c.upper() in _VALUES else " (use '<' for spaces and punctuation)"
                raise MRZError(f"line {n} column {i}: character {c!r} is not one of A-Z, 0-9, <{hint}")
    return detect_format(lines)  # type: ignore[return-value]


@dataclass
class ParseResult:
    """A parsed MRZ.

    Attributes:
        format: ``TD1``, ``TD2``, ``TD3``, ``MRVA``, ``MRVB``, or ``None`` when the lines fit none.
        lines: The lines after correction.
        fields: Field values with fillers stripped; ``surname`` and ``given_names`` split from ``names``.
        valid: Per check digit (``document_number``, ``birth_date``, ``expiry_date``,
            ``optional_data`` where guarded, ``composite``): whether it holds.
        corrections: ``{"line", "position", "from", "to", "reason"}`` per changed character.
    """

    format: Optional[str]
    lines: List[str]
    fields: Dict[str, str] = field(default_factory=dict)
    valid: Dict[str, bool] = field(default_factory=dict)
    corrections: List[Dict[str, object]] = field(default_factory=list)

    @property
    def all_valid(self) -> bool:
        """A format was found and every check digit holds."""
        return self.format is not None and bool(self.valid) and all(self.valid.values())

    def to_dict(self) -> Dict[str, object]:
        return {
            "format": self.format,
            "lines": list(self.lines),
            "fields": dict(self.fields),
            "valid": dict(self.valid),
            "all_valid": self.all_valid,
            "corrections": list(self.corrections),
        }


def _digit_ok(text: str, digit: str, allow_filler: bool = False) -> bool:
    if allow_filler and digit == "<" and set(text) <= {"<"}:
        return True  # an empty optional field may carry '<' as its check digit
    try:
        return digit.isdigit() and check_digit(text) == int(digit)
    except MRZError:
        return False


def _composite_text(lines: Sequence[str], comp: Composite) -> str:
    return "".join(lines[line][a:b] for line, a, b in comp.spans)


def _checks(lines: Sequence[str], fields: Sequence[Field], comp: Optional[Composite]) -> Dict[str, bool]:
    valid = {}
    for f in fields:
        if f.check is not None:
            valid[f.name] = _digit_ok(lines[f.line][f.start : f.end], lines[f.check[0]][f.check[1]], f.kind == ALNUM and f.name.startswith("optional"))
    if comp is not None:
        valid["composite"] = _digit_ok(_composite_text(lines, comp), lines[comp.at[0]][comp.at[1]])
    return valid


def _fix_by_type(chars: List[List[str]], fields: Sequence[Field], comp: Optional[Composite], corrections: List[Dict[str, object]]) -> None:
    """Replace a confusable character whose field type allows exactly one reading of it."""

    def fix(line: int, pos: int, table: Dict[str, str], why: str) -> None:
        c = chars[line][pos]
        if c in table:
            chars[line][pos] = table[c]
            corrections.append({"line": line, "position": pos, "from": c, "to": table[c], "reason": why})

    digit_positions = [f.check for f in fields if f.check is not None] + ([comp.at] if comp else [])
    for line, pos in digit_positions:
        if chars[line][pos] != "<":
            fix(line, pos, LETTER_TO_DIGIT, "check digit is numeric")
    for f in fields:
        for pos in range(f.start, f.end):
            if f.kind == NUM:
                fix(f.line, pos, LETTER_TO_DIGIT, f"{f.name} is numeric")
            elif f.kind in (ALPHA, SEX):
                fix(f.line, pos, DIGIT_TO_LETTER, f"{f.name} holds letters")


def _fix_by_check(chars: List[List[str]], fields: Sequence[Field], comp: Optional[Composite], corrections: List[Dict[str, object]]) -> None:
    """In an alphanumeric field whose check digit fails, swap one confusable character when exactly one swap makes it hold.

    Where a composite check digit exists it must hold too; otherwise the field is left as read.
    """
    for f in fields:
        if f.kind != ALNUM or f.check is None:
            continue
        line = chars[f.line]
        digit = chars[f.check[0]][f.check[1]]
        text = "".join(line[f.start : f.end])
        if _digit_ok(text, digit, f.name.startswith("optional")):
            continue
        candidates = []
        for pos in range(f.start, f.end):
            for alt in CONFUSABLE.get(line[pos], ()):
                trial = text[: pos - f.start] + alt + text[pos - f.start + 1 :]
                if _digit_ok(trial, digit):
                    candidates.append((pos, alt))
        if comp is not None:
            kept = []
            for pos, alt in candidates:
                old = line[pos]
                line[pos] = alt
                lines = ["".join(row) for row in chars]
                if _digit_ok(_composite_text(lines, comp), lines[comp.at[0]][comp.at[1]]):
                    kept.append((pos, alt))
                line[pos] = old
            candidates = kept
        if len(candidates) == 1:
            pos, alt = candidates[0]
            corrections.append({"line": f.line, "position": pos, "from": line[pos], "to": alt, "reason": f"only reading of {f.name} that passes its check digit"})
            line[pos] = alt


def _split_names(names: str) -> Tuple[str, str]:
    surname, _, given = names.partition("<<")
    return surname.replace("<", " ").strip(), given.replace("<", " ").strip()


def parse(lines: Sequence[str], correct: bool = True) -> ParseResult:
    """Parse MRZ lines by format, check every check digit, and (optionally) correct confusable characters.

    Correction changes a character only where the answer is unique: a letter in a
    numeric field (dates, check digits) or a digit in a letter field (names, state codes,
    sex) by :data:`LETTER_TO_DIGIT` / :data:`DIGIT_TO_LETTER`; in an alphanumeric field
    guarded by a check digit, a single confusable swap when exactly one makes the check
    digit (and the composite) hold. A read the check digits reject in more than one way
    is left as it is.

    Args:
        lines: The MRZ lines, top to bottom.
        correct: Apply the correction rule.

    Returns:
        A :class:`ParseResult`; ``format`` is ``None`` (and nothing is checked) if the shape fits no format.
    """
    lines = [str(line).upper() for line in lines]
    fmt = detect_format(lines)
    if fmt is None or any(c not in _VALUES for line in lines for c in line):
        return ParseResult(None, lines)
    fields, comp = _LAYOUTS[fmt]
    corrections: List[Dict[str, object]] = []
    if correct:
        chars = [list(line) for line in lines]
        _fix_by_type(chars, fields, comp, corrections)
        _fix_by_check(chars, fields, comp, corrections)
        lines = ["".join(row) for row in chars]
    values = {f.name: lines[f.line][f.start : f.end] for f in fields}
    out = {name: value.replace("<", " ").strip() if name != "names" else value for name, value in values.items()}
    out["surname"], out["given_names"] = _split_names(values["names"])
    del out["names"]
    return ParseResult(fmt, lines, out, _checks(lines, fields, comp), corrections)
