"""Read and validate the contract tables: observations, multiplier evidence, conflicts.

Numbers are parsed by hand first, because the seeds write "70,6", "14.869.021" and "5 320": a
decimal comma or a thousands separator in a CSV is rejected with a message saying how to write it,
never guessed. Everything else (vocabularies, ranges, keys) is a pandera schema; its failure
cases are turned into one line per problem naming file, row and column.

Every number must be finite ("1e400" reads as infinity) and inside a range no real figure comes near
(``LIMITS``). Implausible but legal rows pass with a warning naming the row (``plausibility``): a
year after the current one, a share above 100%, a multiplier outside 1-1000 or of an unknown method,
a series of zeros, and a value that looks like a decimal comma split into the value and low columns.
"""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from forecast.core import errors
from forecast.core.errors import DataError, Issue, shown
from forecast.core.textfile import PLAIN_NUMBER, read_text
from forecast.data import vocab

_INTEGER = re.compile(r"^\d{1,4}$")
HEADER_LINE = 1  # data row i (0-based) stands on line i + 2 of the file


def _choices(names) -> str:
    return ", ".join(sorted(names))


def _read_text(path: Path) -> str:
    text = read_text(path, DataError, "CSV file")
    if not text.strip():
        raise DataError(Issue(str(path), None, None, "file is empty; expected a CSV with a header row"))
    return text


def _csv_rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """(line where the record starts, its fields) for every record; a quoted field may span lines."""
    reader = csv.reader(io.StringIO(text))
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            rows.append((start, next(reader)))
        except StopIteration:
            return rows
        except csv.Error as exc:
            if "field limit" in str(exc):
                problem = (
                    f"a field is longer than {csv.field_size_limit():,} characters "
                    "(an unclosed quote that runs on to the end of the file?)"
                )
            else:
                problem = f"cannot be read as CSV ({exc})"
            raise DataError(Issue(str(path), start, None, problem)) from None


def read_table(path: Path | str, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a contract CSV as strings, checking its header; data rows keep their file line numbers."""
    path = Path(path)
    text = _read_text(path)
    records = _csv_rows(path, text)
    header = [h.strip() for h in records[0][1]]
    issues = []
    missing = [c for c in columns if c not in header and c not in optional]
    unknown = [shown(h) for h in header if h not in columns]
    if missing:
        issues.append(
            Issue(str(path), 1, None, f"missing column(s) {', '.join(missing)}; expected: {', '.join(columns)}")
        )
    if unknown:
        issues.append(
            Issue(str(path), 1, None, f"unknown column(s) {', '.join(unknown)}; expected: {', '.join(columns)}")
        )
    dup = sorted({shown(h) for h in header if header.count(h) > 1})
    if dup:
        issues.append(Issue(str(path), 1, None, f"column(s) {', '.join(dup)} appear more than once"))
    if issues:
        raise DataError(issues)
    body = [(n, r) for n, r in records[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise DataError(Issue(str(path), None, None, "has a header but no data rows"))
    for n, r in body:
        if len(r) != len(header):
            issues.append(
                Issue(
                    str(path),
                    n,
                    None,
                    f"has {len(r)} fields, the header has {len(header)} (an unquoted comma inside a field?)",
                )
            )
    if issues:
        raise DataError(issues)
    df = pd.DataFrame(
        [[c.strip() for c in r] for _, r in body], columns=header, index=pd.Index([n for n, _ in body], name="line")
    )
    for c in optional:
        if c not in df:
            df[c] = ""
    return df[list(columns)]


def _parse_numbers(df: pd.DataFrame, path: Path, cols, integer: tuple[str, ...] = ()) -> list[Issue]:
    """Convert numeric text columns in place; report every cell that is not a plain number."""
    issues = []
    for col in cols:
        parsed = []
        for line, cell in df[col].items():
            if cell == "":
                parsed.append(float("nan"))
                continue
            if col in integer:
                ok = bool(_INTEGER.match(cell))
                why = f"'{shown(cell)}' is not a year (write four digits, e.g. 2003)"
            else:
                ok = bool(PLAIN_NUMBER.match(cell))
                why = _number_problem(cell)
            if ok and not math.isfinite(float(cell)):
                ok, why = False, f"'{shown(cell)}' is too large to be a number (it reads as infinity)"
            if not ok:
                issues.append(Issue(str(path), int(line), col, why))
                parsed.append(float("nan"))
            else:
                parsed.append(float(cell))
        df[col] = (
            pd.array(parsed, dtype="Int64" if col in integer else "float64")
            if col in integer
            else pd.Series(parsed, index=df.index, dtype="float64")
        )
    return issues


def _number_problem(cell: str) -> str:
    cell = shown(cell)
    if re.fullmatch(r"\d+,\d+", cell):
        return (
            f"'{cell}' has a comma: a decimal comma or a thousands separator? Write plain digits "
            f"with a dot for decimals (e.g. {cell.replace(',', '.')} or {cell.replace(',', '')})"
        )
    if re.fullmatch(r"\d{1,3}([.,  ]\d{3})+([.,]\d+)?", cell):
        return (
            f"'{cell}' uses a thousands separator; write plain digits "
            f"(e.g. {re.sub(r'[^0-9]', '', cell)}) with a dot for decimals"
        )
    if cell.endswith("%"):
        return f"'{cell}' has a percent sign; write the number only and use a _pct indicator"
    return f"'{cell}' is not a number"


def _failures_to_issues(err: pa.errors.SchemaErrors, path: Path, messages: dict[str, str]) -> list[Issue]:
    issues = []
    seen = set()
    fc = err.failure_cases
    for _, f in fc.iterrows():
        check = str(f["check"])
        col = None if pd.isna(f["column"]) else str(f["column"])
        line = None if pd.isna(f["index"]) else int(f["index"])
        key = (line, check) if check in messages else (line, col, check)
        if key in seen:
            continue
        seen.add(key)
        if check in messages:
            problem = messages[check]
            col = None  # a check across columns: the row is the place
        elif check.startswith("isin"):
            allowed = {
                "country": vocab.COUNTRIES,
                "indicator": vocab.INDICATORS,
                "kind": vocab.KINDS,
                "target": vocab.TARGETS,
                "precision": vocab.PRECISIONS,
            }.get(col, {})
            problem = f"unknown {col} '{shown(f['failure_case'])}'; valid: {_choices(allowed)}"
        elif check.startswith("greater_than_or_equal_to"):
            problem = f"{f['failure_case']} is negative; counts and amounts must be >= 0"
        elif check.startswith("greater_than("):
            problem = f"{f['failure_case']} must be > 0 (a multiplier is true count / registered count)"
        elif check.startswith("in_range"):
            problem = f"year {f['failure_case']} is outside {vocab.YEAR_MIN}-{vocab.YEAR_MAX}"
        elif check == "not_nullable":
            problem = "is empty but required"
        elif check.startswith("str_length"):
            problem = "is empty but required"
        else:
            problem = f"fails check {check} (value {shown(repr(f['failure_case']))})"
        issues.append(Issue(str(path), line, col, problem))
    return sorted(issues, key=lambda i: (i.row or 0, i.column or ""))


def _range_checks() -> list[pa.Check]:
    return [
        pa.Check(
            lambda d: d["value"].notna() | d["low"].notna() | d["high"].notna(), name="has_figure", element_wise=False
        ),
        pa.Check(lambda d: ~(d["low"] > d["high"]), name="low_le_high"),
        pa.Check(lambda d: ~((d["value"] < d["low"]) | (d["value"] > d["high"])), name="value_in_range"),
    ]


_RANGE_MESSAGES = {
    "has_figure": "no figure: value, low and high are all empty",
    "low_le_high": "low is greater than high",
    "value_in_range": "value lies outside its own low-high range",
    "unique_key": "duplicate row: the same key appears earlier in the file",
}


def _text(nullable: bool = False, **kw) -> pa.Column:
    checks = kw.pop("checks", [])
    if not nullable:
        checks = [*checks, pa.Check.str_length(min_value=1)]
    return pa.Column(str, checks=checks, nullable=nullable, **kw)


def _amount() -> pa.Column:
    return pa.Column(float, pa.Check.ge(0), nullable=True)


def _year() -> pa.Column:
    return pa.Column("Int64", pa.Check.in_range(vocab.YEAR_MIN, vocab.YEAR_MAX), nullable=False)


OBSERVATIONS_SCHEMA = pa.DataFrameSchema(
    {
        "country": _text(checks=[pa.Check.isin(list(vocab.COUNTRIES))]),
        "indicator": _text(checks=[pa.Check.isin(list(vocab.INDICATORS))]),
        "year": _year(),
        "value": _amount(),
        "low": _amount(),
        "high": _amount(),
        "kind": _text(checks=[pa.Check.isin(list(vocab.KINDS))]),
        "source": _text(),
        "ref": _text(nullable=True),
        "note": _text(nullable=True),
        "period": _text(nullable=True),
        "scope": _text(nullable=True),
        "precision": _text(nullable=True, checks=[pa.Check.isin(["", *vocab.PRECISIONS])]),
    },
    checks=_range_checks(),
)

MULTIPLIERS_SCHEMA = pa.DataFrameSchema(
    {
        "id": _text(),
        "country": _text(checks=[pa.Check.isin(list(vocab.COUNTRIES))]),
        "target": _text(checks=[pa.Check.isin(list(vocab.TARGETS))]),
        "year": _year(),
        "value": pa.Column(float, pa.Check.gt(0), nullable=True),
        "low": pa.Column(float, pa.Check.gt(0), nullable=True),
        "high": pa.Column(float, pa.Check.gt(0), nullable=True),
        "method": _text(),
        "source": _text(),
        "ref": _text(nullable=True),
        "note": _text(nullable=True),
    },
    checks=_range_checks(),
)

CONFLICTS_SCHEMA = pa.DataFrameSchema(
    {
        "id": _text(),
        "topic": _text(),
        "country": _text(nullable=True),
        "indicator": _text(nullable=True),
        "year": pa.Column("Int64", nullable=True),
        "ref_a": _text(),
        "says_a": _text(),
        "ref_b": _text(),
        "says_b": _text(),
        "note": _text(nullable=True),
    }
)


def _duplicate_issues(df: pd.DataFrame, path: Path, key: list[str]) -> list[Issue]:
    dups = df[df.duplicated(subset=key, keep="first")]
    issues = []
    for line, row in dups.iterrows():
        first = df[(df[key] == row[key]).all(axis=1)].index[0]
        desc = ", ".join(f"{k}={shown(str(row[k]))}" for k in key)
        issues.append(Issue(str(path), int(line), None, f"duplicate of row {first} ({desc})"))
    return issues


#: Hard limits of the numeric columns (beyond them no real figure lies: a typo or a unit error):
#: (lowest, highest, why); 0 and negatives are the schema's to report.
LIMITS = {
    "observations": (None, 1e12, "no count, amount or population in the contract comes near 10^12"),
    "multipliers": (1e-3, 1e5, "a multiplier (true count ÷ registered count) lies between 0.001 and 100,000"),
}
#: Multipliers outside this range are legal but get a warning: true ÷ registered is at least 1, and
#: no source in the documents comes near 1,000.
PLAUSIBLE_MULTIPLIER = (1.0, 1000.0)
FIGURES = ("value", "low", "high")


def _limit_issues(df: pd.DataFrame, path: Path, limits: tuple) -> list[Issue]:
    lo, hi, why = limits
    issues = []
    for col in FIGURES:
        for line, v in df[col].items():
            if pd.notna(v) and v > 0 and ((lo is not None and v < lo) or (hi is not None and v > hi)):
                issues.append(Issue(str(path), int(line), col, f"{v:g} is out of range: {why}"))
    if "indicator" in df:  # observations: a population is never 0 (every per-person rate divides by it)
        people = df[df.indicator == "population"]
        for col in FIGURES:
            for line in people.index[people[col] == 0]:
                issues.append(Issue(str(path), int(line), col, "a population of 0; write the number of residents"))
    return issues


def _validate(
    df: pd.DataFrame, path: Path, schema: pa.DataFrameSchema, numeric, key, limits=None, plausibility=None
) -> pd.DataFrame:
    """Parse and check ``df`` (DataError listing every problem); then warn about implausible rows."""
    raw = df.copy()
    issues = _parse_numbers(df, path, numeric, integer=("year",))
    if limits is not None:
        issues += _limit_issues(df, path, limits)
    unparsed = {i.row for i in issues}
    # rows whose numbers could not be read are reported once, not again by follow-on checks
    checked = df[~df.index.isin(unparsed)]
    try:
        schema.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as err:
        issues += _failures_to_issues(err, path, _RANGE_MESSAGES)
    issues += _duplicate_issues(checked, path, key)
    if issues:
        raise DataError(sorted(set(issues), key=lambda i: (i.row or 0, i.column or "", i.problem)))
    if plausibility is not None:
        for issue in sorted(plausibility(df, raw, path), key=lambda i: (i.row or 0, i.column or "")):
            errors.warn(issue)
    return df.reset_index(drop=True)


# -- implausible but legal: a warning naming the row ------------------------------------------------


def _future_years(df: pd.DataFrame, path: Path) -> list[Issue]:
    now = datetime.now(UTC).year
    return [
        Issue(str(path), int(line), "year", f"{y} is after the current year {now}: a forecast, or a typo?")
        for line, y in df["year"].items()
        if y > now
    ]


def _split_decimals(raw: pd.DataFrame, path: Path) -> list[Issue]:
    """Rows whose whole-number value and smaller whole-number low, with no high, read like one number
    with a decimal comma split over two columns by an unquoted "70,6"."""
    out = []
    for line, v, lo, hi in zip(raw.index, raw["value"], raw["low"], raw["high"], strict=True):
        if v.isdigit() and lo.isdigit() and not hi and int(lo) < int(v):
            out.append(
                Issue(
                    str(path),
                    int(line),
                    "low",
                    f"value {v} and low {lo} with no high: an unquoted decimal comma ({v},{lo}) split over two "
                    f'columns? If {v}.{lo} is meant, write {v}.{lo} (or quote it: "{v},{lo}")',
                )
            )
    return out


def _is_share(indicator: str) -> bool:
    """A percentage of a whole (at most 100), unlike a percent change or growth."""
    return indicator.endswith("_pct") and not any(w in indicator for w in ("change", "growth"))


def _observation_warnings(df: pd.DataFrame, raw: pd.DataFrame, path: Path) -> list[Issue]:
    out = _future_years(df, path) + _split_decimals(raw, path)
    shares = df[df.indicator.map(_is_share)]
    for col in FIGURES:
        for line, ind, v in zip(shares.index, shares.indicator, shares[col], strict=True):
            if v > 100:
                out.append(Issue(str(path), int(line), col, f"{v:g} percent is above 100, for a share ({ind})"))
    annual = df[(df.period == "") & (df.scope == "") & df.value.notna()]
    for (country, ind), series in annual.groupby(["country", "indicator"], sort=False):
        if len(series) >= 2 and (series.value == 0).all():
            out.append(
                Issue(
                    str(path),
                    int(series.index[0]),
                    "value",
                    f"every figure of {country} {ind} is 0 ({len(series)} rows): a series of zeros forecasts "
                    "bands of zero width; check the units, or leave the series out",
                )
            )
    return out


def _multiplier_warnings(df: pd.DataFrame, raw: pd.DataFrame, path: Path) -> list[Issue]:
    out = _future_years(df, path) + _split_decimals(raw, path)
    lo, hi = PLAUSIBLE_MULTIPLIER
    for col in FIGURES:
        for line, v in df[col].items():
            if pd.notna(v) and not lo <= v <= hi:
                out.append(
                    Issue(
                        str(path),
                        int(line),
                        col,
                        f"multiplier {v:g} is outside {lo:g}-{hi:g} (true count ÷ registered count): "
                        "inverted (registered ÷ true), a percentage, or a typo?",
                    )
                )
    for line, method in df["method"].items():
        if method not in vocab.METHODS:
            known = _choices(vocab.METHODS)
            out.append(Issue(str(path), int(line), "method", f"unknown method '{shown(method)}'; known: {known}"))
    return out


def load_observations(path: Path | str, warn: bool = True) -> pd.DataFrame:
    """Observations table, validated (DataError listing every problem); implausible rows warned about
    (``warn``)."""
    path = Path(path)
    df = read_table(path, vocab.OBSERVATION_COLUMNS, optional=vocab.OPTIONAL_OBSERVATION_COLUMNS)
    df = _validate(
        df,
        path,
        OBSERVATIONS_SCHEMA,
        ("year", *FIGURES),
        key=["country", "indicator", "year", "period", "scope", "source", "kind"],
        limits=LIMITS["observations"],
        plausibility=_observation_warnings if warn else None,
    )
    df["year"] = df["year"].astype(int)
    return df


def load_multipliers(path: Path | str, warn: bool = True) -> pd.DataFrame:
    """Multiplier-evidence table, validated (implausible rows warned about: ``warn``). ``id`` may be
    omitted by users (then row-numbered)."""
    path = Path(path)
    df = read_table(path, vocab.MULTIPLIER_COLUMNS, optional=("id",))
    df.loc[df["id"] == "", "id"] = [f"{path.stem}-row{n}" for n in df.index[df["id"] == ""]]
    df = _validate(
        df,
        path,
        MULTIPLIERS_SCHEMA,
        ("year", *FIGURES),
        key=["id"],
        limits=LIMITS["multipliers"],
        plausibility=_multiplier_warnings if warn else None,
    )
    df["year"] = df["year"].astype(int)
    return df


def load_conflicts(path: Path | str) -> pd.DataFrame:
    """Recorded conflicts between sources, validated."""
    path = Path(path)
    df = read_table(path, vocab.CONFLICT_COLUMNS)
    issues = _parse_numbers(df, path, ("year",), integer=("year",))
    try:
        CONFLICTS_SCHEMA.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        issues += _failures_to_issues(err, path, _RANGE_MESSAGES)
    issues += _duplicate_issues(df, path, ["id"])
    if issues:
        raise DataError(issues)
    return df.reset_index(drop=True)


def sniff_kind(path: Path | str) -> str:
    """Which contract a CSV follows, from its header: observations | multipliers | conflicts."""
    path = Path(path)
    header = {h.strip() for h in _csv_rows(path, _read_text(path))[0][1]}
    if "target" in header:
        return "multipliers"
    if "ref_a" in header:
        return "conflicts"
    return "observations"


LOADERS = {"observations": load_observations, "multipliers": load_multipliers, "conflicts": load_conflicts}


def check_file(path: Path | str) -> tuple[str, pd.DataFrame]:
    """Validate any contract file; returns (kind, table)."""
    kind = sniff_kind(path)
    return kind, LOADERS[kind](path)
