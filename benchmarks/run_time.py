"""Wall time of `forecast run` (the main job) and of its report stage, each in a fresh process.

Issue #15 asks for `forecast run` <= 30 s on a new machine (compilation included) and <= 20 s
afterwards, on 2 cores, with the report stage <= 8 s. What a fresh process pays depends on what is
on disk, so two states are timed, each run a new interpreter with its own numba cache
(``NUMBA_CACHE_DIR``) and PyTensor compile directory (``PYTENSOR_FLAGS=base_compiledir=...``):

1. first run on a new machine: empty caches (the model's density compiled);
2. again, with the caches of run 1 (the daily case).

Then `forecast report --from` re-renders the last run's report alone in a fresh process (imports
included), and run.json's own stage timings (measured inside the process) are listed.

    .venv/bin/python benchmarks/run_time.py               # writes benchmarks/results/run_time.md
    .venv/bin/python benchmarks/run_time.py --repeats 1 --out /tmp/run_time.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = "import sys; from forecast.cli import main; sys.argv[0] = 'forecast'; main()"
RUN_TARGET, RUN_WARM_TARGET, REPORT_TARGET = 30.0, 20.0, 8.0


def forecast(args: list[str], compiledir: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    """One fresh `forecast ...` process: (wall seconds, load before, the process)."""
    env = {
        **os.environ,
        "PYTENSOR_FLAGS": f"base_compiledir={compiledir}",
        "NUMBA_CACHE_DIR": str(compiledir / "numba"),
    }
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CODE, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"forecast {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, load, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2, help="runs of the second state and of the report (default 2)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "run_time.md")
    args = ap.parse_args()
    started = dt.datetime.now().isoformat(timespec="seconds")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cdir, out = tmp / "compiledir", tmp / "results"
        states = ["1. first run on a new machine (empty caches)"] + ["2. again (caches of run 1)"] * args.repeats
        for state in states:
            wall, load, _proc = forecast(["run", "--out", str(out), "--quiet"], cdir)
            stages = json.loads((out / "run.json").read_text())["timings_s"]
            rows.append((f"`forecast run`: {state}", wall, load, stages))
            print(rows[-1], flush=True)
        for _ in range(args.repeats):
            wall, load, _proc = forecast(["report", "--from", str(out), "--out", str(tmp / "report"), "--quiet"], cdir)
            rows.append(("`forecast report` alone (fresh process, imports included)", wall, load, {}))
            print(rows[-1], flush=True)
        shutil.rmtree(cdir, ignore_errors=True)
    lines = [
        "# Run time of `forecast run` and of its report",
        "",
        f"Run {started} on {platform.node()} ({os.cpu_count()} cores, shared with other jobs), Python "
        f"{platform.python_version()}. Command: `python benchmarks/run_time.py {' '.join(sys.argv[1:])}`.",
        "",
        "Each row is one fresh process on the default data (latest vintage) and settings. `wall`: the whole "
        "process; the stage columns are run.json's own timings (inside the process, imports of each stage "
        "included). Load = 1-minute load average just before the run.",
        "",
        "| what | wall (s) | prevalence | forecasts | backtest | report | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for what, wall, load, st in rows:
        cells = [f"{st[k]:.1f}" if k in st else "" for k in ("prevalence", "forecasts", "backtest", "report")]
        lines.append(f"| {what} | {wall:.1f} | {' | '.join(cells)} | {load:.1f} |")
    first = [w for what, w, _l, _s in rows if "first run" in what]
    warm = [w for what, w, _l, _s in rows if "again" in what]
    report_stage = [s["report"] for _w, _x, _l, s in rows if "report" in s]
    report_alone = [w for what, w, _l, _s in rows if "report` alone" in what]

    def verdict(values, target):
        return f"{min(values):.1f}-{max(values):.1f} s: {'meets' if max(values) <= target else 'does NOT meet'}"

    lines += [
        "",
        "Against issue #15's targets:",
        "",
        f"- `forecast run`, new machine (<= {RUN_TARGET:.0f} s): {verdict(first, RUN_TARGET)} it.",
        f"- `forecast run`, afterwards (<= {RUN_WARM_TARGET:.0f} s): {verdict(warm, RUN_WARM_TARGET)} it.",
        f"- report stage inside the run (<= {REPORT_TARGET:.0f} s): {verdict(report_stage, REPORT_TARGET)} it.",
        f"- `forecast report` alone, fresh process: {min(report_alone):.1f}-{max(report_alone):.1f} s.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
