"""Random but realistic MRZ text with correct ICAO 9303 check digits, for every format.

Names are built from syllables, so a seed decides them and training and validation
(different seeds) hardly ever share one; states are ISO 3166 alpha-3 codes plus the
codes ICAO reserves (``D`` for Germany, ``UTO``, ``XXA``...).

>>> import random
>>> lines = random_mrz(random.Random(0), "TD1")
>>> [len(line) for line in lines]
[30, 30, 30]
"""

from __future__ import annotations

import random
from typing import List, Optional, Sequence

from ..mrz_format import FORMATS, check_digit, field_layout

__all__ = ["random_mrz", "random_document", "STATES"]

# ISO 3166-1 alpha-3 (a broad selection) and ICAO's special codes.
STATES = (
    "AFG ALB DZA AND AGO ARG ARM AUS AUT AZE BHS BHR BGD BRB BLR BEL BLZ BEN BTN BOL BIH BWA BRA BRN BGR BFA BDI "
    "KHM CMR CAN CPV CAF TCD CHL CHN COL COM COG CRI CIV HRV CUB CYP CZE DNK DJI DMA DOM ECU EGY SLV GNQ ERI EST "
    "ETH FJI FIN FRA GAB GMB GEO GHA GRC GRD GTM GIN GUY HTI HND HUN ISL IND IDN IRN IRQ IRL ISR ITA JAM JPN JOR "
    "KAZ KEN KIR KOR KWT KGZ LAO LVA LBN LSO LBR LBY LIE LTU LUX MDG MWI MYS MDV MLI MLT MHL MRT MUS MEX FSM MDA "
    "MCO MNG MNE MAR MOZ MMR NAM NRU NPL NLD NZL NIC NER NGA MKD NOR OMN PAK PLW PAN PNG PRY PER PHL POL PRT QAT "
    "ROU RUS RWA KNA LCA VCT WSM SMR STP SAU SEN SRB SYC SLE SGP SVK SVN SLB SOM ZAF SSD ESP LKA SDN SUR SWE CHE "
    "SYR TWN TJK TZA THA TLS TGO TON TTO TUN TUR TKM TUV UGA UKR ARE GBR USA URY UZB VUT VAT VEN VNM YEM ZMB ZWE "
    "HKG MAC D<< UTO XXA XXB XXC XXX EUE UNO UNA UNK XOM XPO XCC XIM XDC XES GBD GBN GBO GBP GBS RKS"
).split()

_ONSETS = "B C D F G H J K L M N P R S T V W Z BR CH DR GR KH KL PR SCH SH ST TH TR ZH".split()
_VOWELS = "A E I O U A E I O Y AI AU EI IA IE OU".split()
_CODAS = ["", "", "", "N", "R", "S", "L", "M", "K", "NG", "SS", "T", "RD", "NS", "V"]

_CODES = {
    "TD1": ["I<", "ID", "IR", "AC", "C<", "IO"],
    "TD2": ["I<", "ID", "IP", "A<", "C<", "IR"],
    "TD3": ["P<", "PN", "PD", "PO", "PS", "PM"],
    "MRVA": ["V<", "VA", "VB", "VC", "VD"],
    "MRVB": ["V<", "VA", "VB", "VC", "VD"],
}
_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _name(rng: random.Random) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))]
    return "".join(parts)


def _names_field(rng: random.Random, width: int) -> str:
    """``SURNAME<<GIVEN<NAMES<<<``: components joined by ``<``, truncated to the field as ICAO allows."""
    surname = "<".join(_name(rng) for _ in range(rng.choice((1, 1, 1, 2))))
    given = "<".join(_name(rng) for _ in range(rng.choice((0, 1, 1, 2, 2, 3))))
    text = surname + ("<<" + given if given else "")
    if len(text) > width:
        # Truncation keeps the field full of letters; its last character stays a letter.
        text = text[:width].rstrip("<")
    return text.ljust(width, "<")


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    year = rng.randint(first_year, last_year)
    month = rng.randint(1, 12)
    day = rng.randint(1, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)
    return f"{year % 100:02d}{month:02d}{day:02d}"


def _document_number(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.4:
        number = "".join(rng.choice(_DIGITS) for _ in range(rng.randint(7, 9)))
    elif style < 0.8:
        number = "".join(rng.choice(_UPPER) for _ in range(rng.randint(1, 3)))
        number += "".join(rng.choice(_DIGITS) for _ in range(9 - len(number) - rng.randint(0, 1)))
    else:
        number = "".join(rng.choice(_DIGITS + _UPPER) for _ in range(rng.randint(6, 9)))
    return number.ljust(9, "<")


def _optional(rng: random.Random, width: int) -> str:
    kind = rng.random()
    if kind < 0.4 or width <= 0:
        return "<" * max(width, 0)
    length = rng.randint(min(4, width), width)
    pool = _DIGITS if kind < 0.75 else _DIGITS + _UPPER
    text = "".join(rng.choice(pool) for _ in range(length))
    if kind > 0.9 and length > 4:  # some states write fillers inside the optional data
        cut = rng.randint(1, length - 2)
        text = text[:cut] + "<" + text[cut + 1 :]
    return text.ljust(width, "<")


def random_document(rng: random.Random, fmt: str) -> List[str]:
    """One document's MRZ lines in ``fmt`` with every check digit correct."""
    lines_n, length = FORMATS[fmt]
    fields, comp = field_layout(fmt)
    rows = [["<"] * length for _ in range(lines_n)]
    birth = _date(rng, 1935, 2024)
    values = {
        "document_code": rng.choice(_CODES[fmt]),
        "issuing_state": rng.choice(STATES),
        "nationality": rng.choice(STATES) if rng.random() < 0.3 else None,
        "document_number": _document_number(rng),
        "birth_date": birth,
        "sex": rng.choice("MMFF<X") if rng.random() < 0.97 else "<",
        "expiry_date": _date(rng, 2000, 2040),
    }
    if values["nationality"] is None:
        values["nationality"] = values["issuing_state"]
    for f in fields:
        width = f.end - f.start
        if f.name == "names":
            value = _names_field(rng, width)
        elif f.name.startswith("optional"):
            value = _optional(rng, width)
        else:
            value = values[f.name]
        rows[f.line][f.start : f.end] = list(value[:width].ljust(width, "<"))
    lines = ["".join(r) for r in rows]
    for f in fields:
        if f.check is not None:
            text = lines[f.line][f.start : f.end]
            digit = "<" if f.name.startswith("optional") and set(text) == {"<"} and rng.random() < 0.5 else str(check_digit(text))
            rows[f.check[0]][f.check[1]] = digit
            lines = ["".join(r) for r in rows]
    if comp is not None:
        text = "".join(lines[line][a:b] for line, a, b in comp.spans)
        rows[comp.at[0]][comp.at[1]] = str(check_digit(text))
    return ["".join(r) for r in rows]


def random_mrz(rng: random.Random, fmt: Optional[str] = None, formats: Sequence[str] = tuple(FORMATS)) -> List[str]:
    """MRZ lines of a random document; ``fmt`` fixes the format, else it is drawn from ``formats``."""
    return random_document(rng, fmt or rng.choice(list(formats)))
