"""Check that a row's figures stand in its source document at the cited line.

A row cites ``ref = "<file>:<line>"`` (several refs joined by ``;`` for a figure derived from
more than one place). The figure must appear, *as the document writes it*, on the cited line or
the line next to it: "6,243", "70,6", "14.869.021", "100 000", "twelve", "one in fifty",
"5 mt" (= 5,000 kg), "1, 2 million". The check reads numbers under every separator convention
the documents use, so a figure is found however it is written, and never silently misread.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
}
_SCALES = {"thousand": 1e3, "million": 1e6, "ton": 1e3, "tons": 1e3, "tonnes": 1e3, "mt": 1e3}
_REF = re.compile(r"^(?P<file>[\w.\-]+\.txt):(?P<line>\d+)$")


@dataclass(frozen=True)
class Ref:
    file: str
    line: int


def parse_refs(ref: str) -> list[Ref]:
    """``"a.txt:12; b.txt:40"`` → two refs; raises ValueError on a malformed one."""
    refs = []
    for part in str(ref).split(";"):
        m = _REF.match(part.strip())
        if not m:
            raise ValueError(f"ref {part.strip()!r} is not of the form <file>.txt:<line>")
        refs.append(Ref(m["file"], int(m["line"])))
    return refs


def _parse_number(token: str) -> set[float]:
    """Every reading of a digit string under the conventions found in the seeds."""
    token = token.strip(".,")
    out: set[float] = set()
    if not token:
        return out
    for thousands, decimal in ((",", "."), (".", ","), ("", "")):
        t = token
        if thousands:
            t = t.replace(thousands, "")
        if decimal:
            t = t.replace(decimal, ".")
        try:
            out.add(float(t))
        except ValueError:
            pass
    return out


def numbers_in(text: str) -> set[float]:
    """All numbers a reader could take from ``text`` (digits, words, scales)."""
    found: set[float] = set()
    # "70, 6" / "1080, 5 kg": a decimal comma followed by a space (but not "2003, 1080")
    variants = {text, re.sub(r"(\d)([.,]) (\d{1,2})(?!\d)", r"\1\2\3", text)}
    for t in variants:
        words = t.split()
        for i, w in enumerate(words):
            # plain tokens, with any hyphen ranges split ("1,110-1,251")
            for piece in re.findall(r"\d[\d.,]*", w):
                found |= _parse_number(piece)
            # space-separated thousands groups: "100 000", "5 320"
            head = re.fullmatch(r"\D*(\d{1,3})", w)
            if head:
                digits = head.group(1)
                for nxt in words[i + 1 : i + 4]:
                    g = re.fullmatch(r"(\d{3})\D*", nxt)
                    if not g:
                        break
                    digits += g.group(1)
                    found.add(float(digits))
    lowered = text.lower()
    # compound quantities: "17 tons 300 kg" = 17300 kg, "164 kg 274 g" = 164.274 kg
    for a, b in re.findall(r"(\d+)\s*tons?\s+(\d+)\s*kg", lowered):
        found.add(float(a) * 1000 + float(b))
    for a, b in re.findall(r"(\d+)\s*kg\s+(\d+)\s*g\b", lowered):
        found.add(float(a) + float(b) / 1000)
    for word, n in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", lowered):
            found.add(float(n))
    if re.search(r"\bone in (\w+)", lowered):
        m = re.search(r"\bone in (\w+)", lowered)
        if m and m.group(1) in NUMBER_WORDS:
            found.add(float(NUMBER_WORDS[m.group(1)]))
    scaled = set()
    for word, factor in _SCALES.items():
        if re.search(rf"\b{word}\b", lowered):
            scaled |= {x * factor for x in found}
    return found | scaled


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def window(seeds_dir: Path, ref: Ref) -> str:
    """The cited line and its neighbours; raises ValueError if file or line is missing."""
    path = seeds_dir / ref.file
    if not path.exists():
        raise ValueError(f"cited file {ref.file} does not exist")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not 1 <= ref.line <= len(lines):
        raise ValueError(f"{ref.file} has {len(lines)} lines; line {ref.line} cited")
    return "\n".join(lines[max(0, ref.line - 2) : ref.line + 1])


def figure_stands_at(seeds_dir: Path, ref: str, figure: float) -> bool:
    """True if ``figure`` is written on any cited line or a line next to it."""
    for r in parse_refs(ref):
        if any(_close(figure, x) for x in numbers_in(window(seeds_dir, r))):
            return True
    return False


def unsupported_figures(seeds_dir: Path, row: dict, fields=("value", "low", "high")) -> list[str]:
    """Problems with one row's provenance: missing lines, figures not found at the ref."""
    problems = []
    try:
        refs = parse_refs(row["ref"])
        for r in refs:
            window(seeds_dir, r)
    except ValueError as exc:
        return [str(exc)]
    for f in fields:
        v = row.get(f)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if not figure_stands_at(seeds_dir, row["ref"], float(v)):
            problems.append(f"{f}={v:g} not written at {row['ref']} (or the line next to it)")
    return problems
