"""Read and validate the contract tables: observations, multiplier evidence, conflicts.

Numbers are parsed by hand first, because the seeds write "70,6", "14.869.021" and "5 320": a
decimal comma or a thousands separator in a CSV is rejected with a message saying how to write it,
never guessed. Everything else (vocabularies, ranges, keys) is a pandera schema; its failure
cases are turned into one line per problem naming file, row and column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from forecast.core.errors import DataError, Issue
from forecast.data import vocab

_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^\d{1,4}$")
HEADER_LINE = 1  # data row i (0-based) stands on line i + 2 of the file


def _choices(names) -> str:
    return ", ".join(sorted(names))


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(Issue(str(path), None, None, "file not found")) from None
    except IsADirectoryError:
        raise DataError(Issue(str(path), None, None, "is a folder, not a CSV file")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            Issue(str(path), line, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8")
        ) from None
    if not text.strip():
        raise DataError(Issue(str(path), None, None, "file is empty; expected a CSV with a header row"))
    return text


def read_table(path: Path | str, columns: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a contract CSV as strings, checking its header; data rows keep their file line numbers."""
    path = Path(path)
    text = _read_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows[0]]
    issues = []
    missing = [c for c in columns if c not in header and c not in optional]
    unknown = [h for h in header if h not in columns]
    if missing:
        issues.append(
            Issue(str(path), 1, None, f"missing column(s) {', '.join(missing)}; expected: {', '.join(columns)}")
        )
    if unknown:
        issues.append(
            Issue(str(path), 1, None, f"unknown column(s) {', '.join(unknown)}; expected: {', '.join(columns)}")
        )
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        issues.append(Issue(str(path), 1, None, f"column(s) {', '.join(dup)} appear more than once"))
    if issues:
        raise DataError(issues)
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(cell.strip() for cell in r)]
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
                why = f"'{cell}' is not a year (write four digits, e.g. 2003)"
            else:
                ok = bool(_PLAIN_NUMBER.match(cell))
                why = _number_problem(cell)
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
            }.get(col, {})
            problem = f"unknown {col} '{f['failure_case']}'; valid: {_choices(allowed)}"
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
            problem = f"fails check {check} (value {f['failure_case']!r})"
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
        desc = ", ".join(f"{k}={row[k]}" for k in key)
        issues.append(Issue(str(path), int(line), None, f"duplicate of row {first} ({desc})"))
    return issues


def _validate(df: pd.DataFrame, path: Path, schema: pa.DataFrameSchema, numeric, key) -> pd.DataFrame:
    issues = _parse_numbers(df, path, numeric, integer=("year",))
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
    return df.reset_index(drop=True)


def load_observations(path: Path | str) -> pd.DataFrame:
    """Observations table, validated; raises DataError listing every problem."""
    path = Path(path)
    df = read_table(path, vocab.OBSERVATION_COLUMNS, optional=vocab.OPTIONAL_OBSERVATION_COLUMNS)
    df = _validate(
        df,
        path,
        OBSERVATIONS_SCHEMA,
        ("year", "value", "low", "high"),
        key=["country", "indicator", "year", "period", "scope", "source", "kind"],
    )
    df["year"] = df["year"].astype(int)
    return df


def load_multipliers(path: Path | str) -> pd.DataFrame:
    """Multiplier-evidence table, validated. ``id`` may be omitted by users (then row-numbered)."""
    path = Path(path)
    df = read_table(path, vocab.MULTIPLIER_COLUMNS, optional=("id",))
    df.loc[df["id"] == "", "id"] = [f"{path.stem}-row{n}" for n in df.index[df["id"] == ""]]
    df = _validate(df, path, MULTIPLIERS_SCHEMA, ("year", "value", "low", "high"), key=["id"])
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
    text = _read_text(path)
    header = {h.strip() for h in next(csv.reader(io.StringIO(text)))}
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
