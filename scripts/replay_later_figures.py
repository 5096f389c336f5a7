"""Replay the official figures published after the seed documents as yearly calibrations.

    python scripts/replay_later_figures.py           rebuild forecast/embedded/data/vintages
    python scripts/replay_later_figures.py --check   rebuild into a temporary folder and compare

The base vintage is the seed documents (the view from 2005). The later figures, converted to the
data contract by scripts/later_figures.py into ``data/later/YYYY.csv`` (and ``YYYY_conflicts.csv``),
enter one calibration year at a time, 2005 -> 2025, each through the product's own
``forecast calibrate`` (``--no-refit --as-of YYYY``), each scoring the forecast the previous vintage
makes. Every vintage is stamped with the end of January of the year after its figures
(SOURCE_DATE_EPOCH), so a rebuild is byte-identical to the committed vintages.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import io
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "forecast" / "embedded" / "data"
TABLES = ("observations.csv", "multipliers.csv", "conflicts.csv")


def calibration_years(later: Path) -> list[int]:
    return sorted(int(p.stem) for p in later.glob("*.csv") if p.stem.isdigit())


def stamp(year: int) -> str:
    """The replayed date of a calibration year: its figures as published by the end of January after."""
    return str(int(datetime(year + 1, 1, 31, 12, tzinfo=UTC).timestamp()))


def replay(data: Path, out: Path, log) -> list[tuple[int, float]]:
    """Calibrate ``data`` (a folder holding the base tables and later/) with every later year."""
    from forecast.cli import main

    timings = []
    for year in calibration_years(data / "later"):
        files = [data / "later" / f"{year}.csv"]
        if (data / "later" / f"{year}_conflicts.csv").exists():
            files.append(data / "later" / f"{year}_conflicts.csv")
        os.environ["SOURCE_DATE_EPOCH"] = stamp(year)
        args = ["calibrate", *map(str, files), "--data", str(data), "--out", str(out / str(year))]
        args += ["--no-refit", "--as-of", str(year)]
        t = time.perf_counter()
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                main(args, prog_name="forecast", standalone_mode=False)
                code = 0
            except SystemExit as exc:
                code = exc.code or 0
        timings.append((year, time.perf_counter() - t))
        log.write(f"\n$ forecast {' '.join(args)}\n{buf.getvalue()}")
        if code:
            raise SystemExit(f"calibration {year} failed (exit {code}):\n{buf.getvalue()}")
        print(f"  {year}: {timings[-1][1]:.1f} s", flush=True)
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    return timings


def differences(a: Path, b: Path) -> list[str]:
    """Files that differ between two vintage folders (the lock file aside)."""

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".lock"}

    fa, fb = files(a), files(b)
    out = [f"only in {a}: {f}" for f in sorted(fa - fb)] + [f"only in {b}: {f}" for f in sorted(fb - fa)]
    out += [f"differs: {f}" for f in sorted(fa & fb) if not filecmp.cmp(a / f, b / f, shallow=False)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="data folder with the base tables and later/")
    parser.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        work = Path(tmp) / "data"
        work.mkdir()
        for name in TABLES:
            shutil.copy2(args.data / name, work / name)
        shutil.copytree(args.data / "later", work / "later")
        t0 = time.perf_counter()
        with open(Path(tmp) / "replay.log", "w", encoding="utf-8") as log:
            timings = replay(work, Path(tmp) / "out", log)
        total = time.perf_counter() - t0
        print(f"{len(timings)} calibrations in {total:.1f} s")
        if args.check:
            diff = differences(work / "vintages", args.data / "vintages")
            for line in diff:
                print(line)
            print("vintages: identical to the committed ones" if not diff else f"{len(diff)} differences")
            return 1 if diff else 0
        target = args.data / "vintages"
        old = args.data / ".vintages-old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        shutil.copytree(work / "vintages", target, ignore=shutil.ignore_patterns(".lock"))
        shutil.rmtree(old, ignore_errors=True)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
