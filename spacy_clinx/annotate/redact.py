"""De-identified text from predicted entities: each entity masked as ``[LABEL]``, or replaced by a
surrogate of its kind, consistently within a document, with a map from output offsets back to input.

Surrogates keep what a reader of the note needs and nothing that identifies: a name becomes another
name (the same name always the same one within a document), every date of a document moves by one
offset of days and keeps its format, identifiers, phone numbers and ages are replaced character
by character (digits for digits, letters for letters), e-mail addresses and street addresses become well-formed fakes, and anything else
becomes a string of the same shape (letters for letters, digits for digits). The kind comes from
the words of the label's name (``surrogate_kind``), so corpora with their own labels work too.

The surrogates of a document are drawn from a generator seeded with an HMAC of its id under a secret
``key``: without the key, the output does not tell how dates were shifted or digits replaced.
``annotate`` makes a fresh key per run unless ``CLINX_REDACT_KEY`` gives one (the same surrogates
on every run).
"""
import hashlib
import hmac
import os
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Dict, List, Optional, Sequence, Tuple

MODES = ("mask", "surrogate")

KINDS = (  # (kind, beginnings of a word of the label), first match wins
    ("email", ("CORREO", "EMAIL", "MAIL")),
    ("date", ("FECHA", "DATE")),
    ("address", ("CALLE", "ADDRESS", "STREET", "DIRECCION")),
    ("digits", ("ID", "NUMERO", "PHONE", "TELEPHONE", "TELEFONO", "FAX", "EDAD", "AGE", "ZIP", "POSTAL", "NHC",
                "DNI")),
    ("name", ("NOMBRE", "NAME", "PERSON", "DOCTOR", "PATIENT", "PACIENTE", "FAMILIAR")),
)

FIRST_NAMES = ("Lucía", "Mateo", "Carmen", "Hugo", "Elena", "Pablo", "Marta", "Daniel", "Irene", "Álvaro",
               "Nuria", "Sergio", "Clara", "Iván", "Rosa", "Tomás")
SURNAMES = ("Navarro", "Ortega", "Castro", "Molina", "Delgado", "Romero", "Vidal", "Serrano", "Iglesias",
            "Cabrera", "Lozano", "Prieto", "Méndez", "Herrera", "Gallego", "Rubio")
STREETS = ("Calle del Olmo", "Avenida de los Tilos", "Calle Mayor", "Paseo del Río", "Calle de la Fuente",
           "Plaza del Sol")
MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
             "noviembre", "diciembre")
MONTHS_EN = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
             "november", "december")
MONTH_NAMES = {name: i + 1 for months in (MONTHS_ES, MONTHS_EN) for i, name in enumerate(months)}


def surrogate_kind(label: str) -> str:
    """By the words of the label (split at ``_``, ``-``, spaces): ``ID_SUJETO_ASISTENCIA`` is digits,
    ``FECHAS`` a date; ``LANGUAGE`` is not an age, ``CANDIDATE`` no date."""
    words = [w for w in re.split(r"[_\-\s]+", label.upper()) if w]
    return next((kind for kind, starts in KINDS if any(w.startswith(s) for w in words for s in starts)), "shape")


def new_key() -> bytes:
    """``CLINX_REDACT_KEY`` (the same surrogates on every run), else a fresh random key."""
    given = os.environ.get("CLINX_REDACT_KEY")
    return given.encode("utf8") if given else os.urandom(32)


@dataclass(frozen=True)
class Replacement:
    """One entity: its label, where it was in the input, where its replacement is in the output."""

    label: str
    start: int
    end: int
    out_start: int
    out_end: int

    def to_dict(self) -> Dict:
        return {"label": self.label, "start": self.start, "end": self.end, "out_start": self.out_start,
                "out_end": self.out_end}


def to_input_offset(replacements: Sequence[Replacement], offset: int) -> int:
    """The input offset of an output offset: text between replacements is copied, so it shifts by
    the length changes before it; an offset inside a replacement maps to that entity's start."""
    shift = 0
    for r in replacements:
        if offset < r.out_start:
            break
        if offset < r.out_end:
            return r.start
        shift = r.end - r.out_end
    return offset + shift


class Surrogates:
    """The replacements of one document, seeded by its id: the same string of the same kind gets
    the same surrogate, and all dates share one shift."""

    def __init__(self, doc_id: str, key: bytes):
        seed = int.from_bytes(hmac.new(key, str(doc_id).encode("utf8"), hashlib.sha256).digest()[:16], "big")
        self.random = random.Random(seed)
        self.days = self.random.choice([d for d in range(-400, 401) if abs(d) >= 30])
        self.seen: Dict[Tuple[str, str], str] = {}

    def __call__(self, label: str, text: str) -> str:
        kind = surrogate_kind(label)
        key = (kind, text)
        if key not in self.seen:
            self.seen[key] = getattr(self, kind)(text)
        return self.seen[key]

    def digit(self, keep: str) -> str:
        return str(self.random.choice([d for d in range(10) if str(d) != keep]))

    def shape(self, text: str) -> str:
        letters = "abcdefghijklmnopqrstuvwxyz"
        out = []
        for c in text:
            if c.isdigit():
                out.append(self.digit(c))
            elif c.isalpha():
                new = self.random.choice([x for x in letters if x != c.lower()])
                out.append(new.upper() if c.isupper() else new)
            else:
                out.append(c)
        return "".join(out)

    # identifiers, phone numbers, ages: digit by digit, and their letters (a DNI's check letter) too
    digits = shape

    def name(self, text: str) -> str:
        words = text.split()
        fakes = [self.random.choice(FIRST_NAMES)] + [self.random.choice(SURNAMES) for _ in words[1:]]
        fakes = [f.upper() if w.isupper() and len(w) > 1 else f for f, w in zip(fakes, words)]
        return " ".join(fakes) if words else text

    def email(self, text: str) -> str:
        return f"{self.random.choice(FIRST_NAMES).lower().replace('á', 'a').replace('í', 'i')}" \
               f"{self.random.randint(10, 99)}@example.org"

    def address(self, text: str) -> str:
        number = re.search(r"\d+", text)
        return self.random.choice(STREETS) + (f" {self.digits(number.group())}" if number else "")

    def date(self, text: str) -> str:
        shifted = shift_date(text, self.days)
        return shifted if shifted is not None else self.digits(text)


NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
WORDY_DATE = re.compile(r"^(\d{1,2})( de | )([A-Za-zé]+)(?:( de | )(\d{4}))?$", re.IGNORECASE)


def shift_date(text: str, days: int) -> Optional[str]:
    """``text`` moved by ``days`` in its own format (dd/mm/yyyy and its -/. variants, two-digit years,
    ISO, "3 de marzo de 2019", "3 March 2019"); None when it is no date of these forms."""
    m = ISO_DATE.match(text)
    if m:
        d = _date(int(m[1]), int(m[2]), int(m[3]))
        return None if d is None else (d + timedelta(days)).isoformat()
    m = NUMERIC_DATE.match(text)
    if m:
        day, sep, month, year = m[1], m[2], m[3], m[4]
        full = int(year) + (2000 if len(year) == 2 and int(year) < 50 else 1900 if len(year) == 2 else 0)
        d = _date(full, int(month), int(day))
        if d is None:
            return None
        d += timedelta(days)
        new_year = f"{d.year % 100:02d}" if len(year) == 2 else str(d.year)
        return f"{d.day:0{len(day)}d}{sep}{d.month:0{len(month)}d}{sep}{new_year}"
    m = WORDY_DATE.match(text)
    if m and m[3].lower() in MONTH_NAMES:
        year = int(m[5]) if m[5] else 2000
        d = _date(year, MONTH_NAMES[m[3].lower()], int(m[1]))
        if d is None:
            return None
        d += timedelta(days)
        months = MONTHS_ES if m[3].lower() in MONTHS_ES else MONTHS_EN
        month = months[d.month - 1]
        month = month.capitalize() if m[3][0].isupper() else month
        return f"{d.day}{m[2]}{month}" + (f"{m[4]}{d.year}" if m[5] else "")
    return None


def _date(year: int, month: int, day: int) -> Optional[date]:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def redact(doc_id: str, text: str, entities: Sequence[dict], mode: str,
           key: bytes = b"") -> Tuple[str, List[Replacement]]:
    """The de-identified text and where each entity went; a text without entities comes back as is.
    Overlapping entities (an ensemble never gives them, spans_key groups may) are merged first.
    ``key``: the secret the surrogates are drawn with (``new_key``)."""
    if mode not in MODES:
        raise ValueError(f"unknown redaction {mode!r}: use {' or '.join(MODES)}")
    make: Callable[[str, str], str] = (lambda label, _: f"[{label}]") if mode == "mask" else Surrogates(doc_id, key)
    parts: List[str] = []
    replacements: List[Replacement] = []
    at = out = 0
    for e in merge_overlaps(entities):
        parts.append(text[at:e["start"]])
        out += e["start"] - at
        new = make(e["label"], text[e["start"]:e["end"]])
        replacements.append(Replacement(e["label"], e["start"], e["end"], out, out + len(new)))
        parts.append(new)
        out += len(new)
        at = e["end"]
    parts.append(text[at:])
    return "".join(parts), replacements


def merge_overlaps(entities: Sequence[dict]) -> List[dict]:
    merged: List[dict] = []
    for e in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if merged and e["start"] < merged[-1]["end"]:
            merged[-1] = {**merged[-1], "end": max(merged[-1]["end"], e["end"])}
        else:
            merged.append(dict(e))
    return merged


def redacted_result(doc_id: str, text: str, entities: Sequence[dict], mode: str,
                    key: bytes = b"") -> Tuple[str, str, List[dict]]:
    """An annotate result with the de-identified text and its entities in that text: each entity's
    ``start``/``end`` index the output, ``source_start``/``source_end`` the input, and ``text`` is
    the mask or surrogate (the original string is not written)."""
    new_text, replacements = redact(doc_id, text, entities, mode, key)
    scores = {(e["start"], e["end"]): e.get("score") for e in entities}
    return doc_id, new_text, [{"label": r.label, "start": r.out_start, "end": r.out_end,
                               "text": new_text[r.out_start:r.out_end], "score": scores.get((r.start, r.end)),
                               "source_start": r.start, "source_end": r.end} for r in replacements]
