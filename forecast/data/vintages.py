"""The vintage store: every calibration adds a new, complete state of the data folder.

Layout of a data folder::

    observations.csv  multipliers.csv  conflicts.csv    vintage "base": never modified
    vintages/index.json                                 the commit point: the vintages that exist
    vintages/v1/  observations.csv multipliers.csv conflicts.csv   full merged tables
                  revisions.csv changes.csv calibration.csv ...    what the calibration found
                  manifest.json                                    date, files (sha256), counts
    vintages/calibration_history.csv                    vintage x scenario scores (track record)

A vintage folder is built under a temporary name, checked to load, renamed into place, and only
then listed in ``index.json``, which is replaced atomically and written last. A process killed at
any moment therefore leaves the index naming complete vintages only; a folder the index does not
name is ignored, and removed by the next calibration. Readers never lock; writers hold
``vintages/.lock`` so two calibrations cannot interleave.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.core import outputs
from forecast.core.errors import DataError, Issue

BASE = "base"
VINTAGES_DIR = "vintages"
INDEX_FILE = "index.json"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
HISTORY_FILE = "calibration_history.csv"
HISTORY_COLUMNS = [
    "vintage",
    "date",
    "file",
    "n_new",
    "n_restated",
    "n_revised",
    "n_scored",
    "scenario",
    "weight",
    "figures",
    "log_lik",
    "in_80",
    "in_95",
    "mean_pit",
    "mean_crps_rel",
    "scored_against",
]
TABLE_FILES = ("observations.csv", "multipliers.csv", "conflicts.csv")
INDEX_FORMAT = 1
_ID = re.compile(r"^v(\d+)$")
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Vintage:
    """One state of the data: ``base`` (the folder's own files) or a calibration ``vN``."""

    id: str
    folder: Path  # where its tables are
    date: str = ""
    parent: str = ""
    files: tuple[dict, ...] = ()  # {"name", "path", "sha256", "kind", "rows"}
    counts: dict = field(default_factory=dict)  # new / restated / revised / scored

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "date": self.date,
            "parent": self.parent,
            "files": list(self.files),
            "counts": self.counts,
        }


class Store:
    """The vintages of one data folder."""

    def __init__(self, data_dir: Path | str):
        self.root = Path(data_dir)
        self.dir = self.root / VINTAGES_DIR
        self.index_path = self.dir / INDEX_FILE

    # -- reading ---------------------------------------------------------------------------
    def vintages(self) -> list[Vintage]:
        """Base first, then every committed calibration in order."""
        base = Vintage(BASE, self.root, date=_mtime(self.root / TABLE_FILES[0]), parent="")
        return [base, *self._indexed()]

    def _indexed(self) -> list[Vintage]:
        if not self.index_path.exists():
            return []
        try:
            doc = json.loads(self.index_path.read_text(encoding="utf-8"))
            entries = doc["vintages"]
            return [
                Vintage(
                    e["id"],
                    self.dir / e["id"],
                    e.get("date", ""),
                    e.get("parent", ""),
                    tuple(e.get("files", ())),
                    dict(e.get("counts", {})),
                )
                for e in entries
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                Issue(
                    str(self.index_path),
                    None,
                    None,
                    f"vintage index is unreadable ({exc}); restore it from a backup "
                    "or remove the vintages folder to start again from the base files",
                )
            ) from None

    def latest(self) -> Vintage:
        return self.vintages()[-1]

    def get(self, vintage_id: str | None) -> Vintage:
        """A vintage by id; None = the latest. Unknown ids are a DataError listing the valid ones."""
        all_ = self.vintages()
        if vintage_id is None:
            return all_[-1]
        for v in all_:
            if v.id == vintage_id:
                return v
        raise DataError(
            Issue(
                str(self.root),
                None,
                None,
                f"unknown vintage '{vintage_id}'; valid: {', '.join(v.id for v in all_)} (see forecast history)",
            )
        )

    def find_sha(self, sha256: str) -> Vintage | None:
        """The vintage that already took in a file with this content, if any."""
        return next((v for v in self._indexed() if any(f.get("sha256") == sha256 for f in v.files)), None)

    def next_id(self) -> str:
        numbers = [int(m.group(1)) for v in self._indexed() if (m := _ID.match(v.id))]
        return f"v{max(numbers, default=0) + 1}"

    def manifest(self, vintage_id: str) -> dict:
        """What the calibration that made the vintage recorded (date, files, counts, verdict)."""
        v = self.get(vintage_id)
        if v.id == BASE:
            return {"id": BASE, "folder": str(self.root)}
        path = v.folder / MANIFEST_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(
                Issue(
                    str(path), None, None, f"vintage {v.id}'s manifest is unreadable ({exc}); restore it from a backup"
                )
            ) from None

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive writer lock (``filelock``: an OS lock where there is one, a lock file elsewhere);
        a second calibration waits for the first."""
        from filelock import FileLock

        self.dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.dir / LOCK_FILE)):
            yield

    def orphans(self) -> list[Path]:
        """Vintage folders the index does not name: left by a killed calibration."""
        if not self.dir.is_dir():
            return []
        known = {v.id for v in self._indexed()}
        return sorted(
            p
            for p in self.dir.iterdir()
            if p.is_dir() and (p.name.startswith(_TMP_PREFIX) or (_ID.match(p.name) and p.name not in known))
        )

    def clean_orphans(self) -> list[Path]:
        gone = self.orphans()
        for p in gone:
            shutil.rmtree(p, ignore_errors=True)
        return gone

    def commit(
        self,
        vintage_id: str,
        parent: str,
        files: list[dict],
        counts: dict,
        contents: dict[str, bytes],
        check=None,
        details: dict | None = None,
    ) -> Vintage:
        """Write a new vintage folder and list it in the index (the commit point). Hold ``lock()``.

        ``contents`` maps file names to bytes (the merged tables and the calibration's reports);
        ``check(folder)`` is called on the complete temporary folder before it is committed, so a
        vintage that would not load never enters the index.
        """
        final = self.dir / vintage_id
        if final.exists():
            raise RuntimeError(f"{final} exists but is not in the index; clean_orphans() first")
        tmp = self.dir / f"{_TMP_PREFIX}{vintage_id}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        vintage = Vintage(vintage_id, final, _now(), parent, tuple(files), dict(counts))
        try:
            for name, data in contents.items():
                outputs.atomic_write_bytes(tmp / name, data)
            manifest = {**vintage.to_json(), **(details or {})}
            outputs.atomic_write_bytes(tmp / MANIFEST_FILE, _json_bytes(manifest))
            if check is not None:
                check(tmp)
            outputs.fsync_dir(tmp)
            os.replace(tmp, final)
            outputs.fsync_dir(self.dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        entries = [v.to_json() for v in self._indexed()] + [vintage.to_json()]
        outputs.atomic_write_bytes(self.index_path, _json_bytes({"format": INDEX_FORMAT, "vintages": entries}))
        outputs.fsync_dir(self.dir)
        return vintage

    def add_file(self, vintage_id: str, name: str, data: bytes) -> Path:
        """Add a file to a committed vintage (e.g. the refit's forecasts.csv), atomically."""
        v = self.get(vintage_id)
        if v.id == BASE:
            raise ValueError("the base vintage is never modified")
        path = v.folder / name
        outputs.atomic_write_bytes(path, data)
        return path


def resolve_vintage(store: Store, vintage: str | None) -> tuple[str, Path]:
    """(vintage id, folder holding its tables) for ``load_dataset``."""
    if vintage in (None, BASE) and not store.index_path.exists():
        return BASE, store.root
    v = store.get(vintage)
    return v.id, v.folder


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def table_bytes(df: pd.DataFrame) -> bytes:
    """A contract table as CSV bytes that read back to the same values (no rounding), with text a
    spreadsheet would run as a formula quoted (``outputs.neutralise``: stable when read back)."""
    out = outputs.neutralise_formulas(df).copy()  # text only: numbers are never quoted
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]) or pd.api.types.is_integer_dtype(out[col]):
            out[col] = [_number_text(v) for v in out[col]]
    return out.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _number_text(v) -> str:
    """A number as CSV text that reads back to the same float: for machine files only (what people
    read goes through forecast.core.formatting)."""
    if v is None or pd.isna(v):
        return ""
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def _json_bytes(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, default=_json_default, ensure_ascii=False) + "\n").encode("utf-8")


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _now() -> str:
    """Now, or the reproducible-builds SOURCE_DATE_EPOCH when set (a replay of past calibrations
    stamps each vintage with its own date, and rebuilds byte-identical)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch.isdigit() else datetime.now(UTC)
    return when.isoformat(timespec="seconds")


def current_year() -> int:
    """The calendar year of ``_now()`` (SOURCE_DATE_EPOCH-aware)."""
    return int(_now()[:4])


def _mtime(path: Path) -> str:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except OSError:
        return ""


def calibration_history(store: Store) -> pd.DataFrame:
    """The track record: one row per calibration vintage x scenario (HISTORY_COLUMNS).

    Rebuilt from the vintage folders, so it is complete even if a run was killed after its commit.
    """
    rows = []
    for v in store.vintages()[1:]:
        manifest = store.manifest(v.id)
        head = {
            "vintage": v.id,
            "date": v.date,
            "file": " + ".join(f["name"] for f in v.files),
            **{f"n_{k}": v.counts.get(k, 0) for k in ("new", "restated", "revised", "scored")},
            "scored_against": manifest.get("scored_against", ""),
        }
        w = v.folder / "scenario_weights.csv"
        if w.exists():
            try:
                weights = pd.read_csv(w)
            except ValueError as exc:  # pandas' parser errors
                raise DataError(Issue(str(w), None, None, f"unreadable ({exc}); restore it from a backup")) from None
            rows += [{**head, **r} for r in weights.to_dict("records")]
        else:
            rows.append({**head, "scenario": "", "figures": 0})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


TRACK_RECORD_FILE = "track_record.csv"


def track_record(store: Store) -> pd.DataFrame:
    """Every figure each calibration scored, one row per figure x scenario, across all vintages:
    what was forecast (median, 80% and 95% bands) against what happened, with its band hit, PIT
    and CRPS, and the scenario's weight after that calibration. Rebuilt from the vintage folders."""
    parts = []
    for v in store.vintages()[1:]:
        scores_path = v.folder / "calibration.csv"
        if not scores_path.exists() or scores_path.stat().st_size == 0:
            continue
        try:
            scores = pd.read_csv(scores_path)
        except ValueError as exc:
            raise DataError(Issue(str(scores_path), None, None, f"unreadable ({exc}); restore it")) from None
        if scores.empty:
            continue
        weights_path = v.folder / "scenario_weights.csv"
        if weights_path.exists():
            w = pd.read_csv(weights_path)[["scenario", "weight"]].rename(columns={"weight": "weight_after"})
            scores = scores.merge(w, on="scenario", how="left")
        as_of = store.manifest(v.id).get("as_of")
        parts.append(scores.assign(vintage=v.id, as_of=as_of))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    front = ["vintage", "as_of"]
    return out[front + [c for c in out.columns if c not in front]]
