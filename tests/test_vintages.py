"""The vintage store: the base files are never modified, every vintage stays readable, and a
calibration that fails or is killed at any moment leaves the store intact and loadable (the
previous vintage or the new one, never a mix)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from forecast.calibration import commit, prepare, write_outputs
from forecast.core.errors import DataError
from forecast.data.contract import load_observations
from forecast.data.dataset import load_dataset
from forecast.data.vintages import BASE, Store, calibration_history, resolve_vintage, table_bytes
from tests.conftest import BASE_ONLY, DATA, OBS_HEADER, prime, tree_hash

SRC = "Test: made-up figures"
YEAR_1 = (
    "\n".join(
        [
            OBS_HEADER,
            f"Tajikistan,registered_users,2003,9610,,,official,{SRC},,",
            f"Kazakhstan,registered_users,2003,52300,,,official,{SRC},,",
            f"Kyrgyzstan,drug_crimes,2004,3290,,,official,{SRC},,",
        ]
    )
    + "\n"
)
YEAR_2 = (
    "\n".join(
        [
            OBS_HEADER,
            f"Tajikistan,registered_users,2004,10450,,,official,{SRC},,",
            f"Kazakhstan,registered_users,2003,52900,,,official,{SRC} (revised),,",
            f"Uzbekistan,drug_crimes,2004,9350,,,official,{SRC},,",
            f"Turkmenistan,registered_users,2004,3100,,,official,{SRC},,",
        ]
    )
    + "\n"
)


def base_hash(root: Path) -> str:
    return hashlib.sha256(
        b"".join((root / n).read_bytes() for n in ("observations.csv", "multipliers.csv", "conflicts.csv"))
    ).hexdigest()


def calibrate_api(file: Path, root: Path, out: Path | None):
    """What `forecast calibrate FILE --no-refit` does, through the Python API."""
    store = Store(root)
    cal = prepare([file], store, out)
    commit(cal, store)
    write_outputs(cal, out, store)
    return cal


@pytest.fixture(scope="module")
def template(tmp_path_factory, base_forecast):
    """A store with base + v1 (YEAR_1, its forecast stored with it), the YEAR_2 file, and the two
    states a YEAR_2 calibration may leave: ``prev`` (v1) and ``new`` (v2)."""
    tmp = tmp_path_factory.mktemp("template")
    root = tmp / "data"
    shutil.copytree(DATA, root, ignore=BASE_ONLY)
    (tmp / "year1.csv").write_text(YEAR_1)
    (tmp / "year2.csv").write_text(YEAR_2)
    calibrate_api(tmp / "year1.csv", root, prime(root, tmp / "out1", base_forecast))
    Store(root).add_file("v1", "forecasts.csv", base_forecast.to_csv(index=False).encode())
    done = tmp / "done"
    shutil.copytree(root, done)
    calibrate_api(tmp / "year2.csv", done, tmp / "out2")
    return {
        "root": root,
        "file": tmp / "year2.csv",
        "prev": load_dataset(root),
        "new": load_dataset(done),
        "base": base_hash(root),
        "v1": tree_hash(root / "vintages" / "v1"),
    }


def fresh_copy(template, dest: Path) -> Path:
    shutil.copytree(template["root"], dest)
    return dest


def assert_intact(root: Path, template) -> str:
    """The store loads and equals the previous or the new vintage exactly; returns which."""
    ds = load_dataset(root)
    assert ds.vintage in ("v1", "v2")
    expected = template["prev"] if ds.vintage == "v1" else template["new"]
    pd.testing.assert_frame_equal(ds.observations, expected.observations)
    pd.testing.assert_frame_equal(ds.multipliers, expected.multipliers)
    assert [v.id for v in Store(root).vintages()] == ["base", "v1", *(["v2"] if ds.vintage == "v2" else [])]
    assert base_hash(root) == template["base"], "base files are never modified"
    assert tree_hash(root / "vintages" / "v1") == template["v1"], "an existing vintage is never modified"
    return ds.vintage


# ---------------------------------------------------------------------------------------------
# the store


def test_base_is_the_default_until_a_calibration(store, out, tmp_path):
    assert resolve_vintage(Store(store), None) == (BASE, store)
    assert load_dataset(store).vintage == BASE
    before = base_hash(store)
    f = tmp_path / "y1.csv"
    f.write_text(YEAR_1)
    calibrate_api(f, store, out)
    assert base_hash(store) == before, "base files are never modified"
    assert load_dataset(store).vintage == "v1"  # the latest is the default
    assert load_dataset(store, vintage=BASE).observations.equals(load_dataset(DATA, vintage="base").observations)
    assert (
        len(load_dataset(store, vintage="v1").observations) == len(load_dataset(DATA, vintage="base").observations) + 3
    )


def test_unknown_vintage_lists_the_valid_ones(store, out, tmp_path):
    f = tmp_path / "y1.csv"
    f.write_text(YEAR_1)
    calibrate_api(f, store, out)
    with pytest.raises(DataError, match="unknown vintage 'v9'; valid: base, v1"):
        load_dataset(store, vintage="v9")


def test_unreadable_index_is_a_clear_error(store):
    (store / "vintages").mkdir()
    (store / "vintages" / "index.json").write_text("{not json")
    with pytest.raises(DataError, match="vintage index is unreadable"):
        load_dataset(store)


def test_half_written_vintage_is_ignored_then_cleaned(store, out, tmp_path):
    f = tmp_path / "y1.csv"
    f.write_text(YEAR_1)
    (store / "vintages" / "v1").mkdir(parents=True)
    (store / "vintages" / "v1" / "observations.csv").write_text("half a fi")
    (store / "vintages" / ".tmp-v1-123").mkdir()
    assert load_dataset(store).vintage == BASE  # not in the index: ignored
    assert [p.name for p in Store(store).orphans()] == [".tmp-v1-123", "v1"]
    cal = calibrate_api(f, store, out)
    assert sorted(p.name for p in cal.cleaned) == [".tmp-v1-123", "v1"]
    assert Store(store).orphans() == []
    assert load_dataset(store).vintage == "v1"


def test_vintage_folder_is_complete(store, out, tmp_path):
    f = tmp_path / "y1.csv"
    f.write_text(YEAR_1)
    calibrate_api(f, store, out)
    folder = store / "vintages" / "v1"
    names = {p.name for p in folder.iterdir()}
    assert {
        "observations.csv",
        "multipliers.csv",
        "conflicts.csv",
        "revisions.csv",
        "changes.csv",
        "calibration.csv",
        "manifest.json",
    } <= names
    m = json.loads((folder / "manifest.json").read_text())
    assert m["parent"] == BASE and m["counts"]["new"] == 3
    assert m["files"][0]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert (folder / "conflicts.csv").read_bytes() == (store / "conflicts.csv").read_bytes()
    # the vintage folder is itself a valid data folder
    assert len(load_dataset(folder).observations) == len(load_dataset(store).observations)


def test_tables_round_trip_exactly(tmp_path):
    obs = load_dataset(DATA, vintage="base").observations
    odd = obs.iloc[:3].copy()
    odd["value"] = [14869021.0, 0.1 + 0.2, 1e-7]
    table = pd.concat([obs, odd.assign(source=["x", "y", "z"])], ignore_index=True)
    (tmp_path / "o.csv").write_bytes(table_bytes(table))
    pd.testing.assert_frame_equal(load_observations(tmp_path / "o.csv"), table)


def test_base_cannot_be_written_through_the_store(store):
    with pytest.raises(ValueError, match="never modified"):
        Store(store).add_file(BASE, "forecasts.csv", b"x")


# ---------------------------------------------------------------------------------------------
# faults: injected failures at every write, and SIGKILL at random moments


def _count_calls(monkeypatch, module, name: str) -> list[int]:
    calls = [0]
    real = getattr(module, name)

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(module, name, counting)
    return calls


def _fail_at(monkeypatch, module, name: str, k: int) -> None:
    calls = [0]
    real = getattr(module, name)

    def failing(*a, **kw):
        calls[0] += 1
        if calls[0] == k:
            raise OSError(f"injected failure at call {k} of {name}")
        return real(*a, **kw)

    monkeypatch.setattr(module, name, failing)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["atomic_write_bytes", "os.replace"])
def test_failure_at_every_write_leaves_the_store_intact(template, tmp_path, cli, target):
    import forecast.core.outputs

    module, name = (forecast.core.outputs, "atomic_write_bytes") if target == "atomic_write_bytes" else (os, "replace")
    args = lambda root: ("calibrate", template["file"], "--data", root, "--out", root.parent / "out", "--no-refit")  # noqa: E731
    with pytest.MonkeyPatch.context() as mp:
        calls = _count_calls(mp, module, name)
        code, _, err = cli(*args(fresh_copy(template, tmp_path / "count" / "data")))
        assert code == 0, err
    n = calls[0]
    assert n >= 8, f"expected every table, report and the index to be written through {target}"
    outcomes = []
    for k in range(1, n + 1):
        root = fresh_copy(template, tmp_path / f"k{k}" / "data")
        with pytest.MonkeyPatch.context() as mp:
            _fail_at(mp, module, name, k)
            code, _, err = cli(*args(root))
        assert code == 1 and "injected failure" in err, (k, code, err)
        outcomes.append(assert_intact(root, template))
        if k % 3 == 1 or k == n:  # and the next run completes (or finds the file already in)
            code, _, err = cli(*args(root))
            assert code == 0, err
            assert assert_intact(root, template) == "v2"
            assert Store(root).orphans() == []
            assert "v2" in set(calibration_history(Store(root)).vintage)
    assert outcomes[0] == "v1" and outcomes[-1] == "v2"  # failures before and after the commit point


def _child_calibrate(file: Path, root: Path) -> None:
    """In a forked child: `forecast calibrate FILE --no-refit`, then exit without cleanup."""
    from forecast.cli import main

    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    code = 1
    try:
        main(
            ["calibrate", str(file), "--data", str(root), "--out", str(root.parent / "out"), "--no-refit"],
            standalone_mode=False,
        )
        code = 0
    except BaseException:  # noqa: BLE001
        pass
    finally:
        os._exit(code)


def _run_and_kill(file: Path, root: Path, delay: float | None) -> tuple[float, int | None]:
    """Fork a calibration and SIGKILL it after ``delay`` s (None: let it finish)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        _child_calibrate(file, root)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - t0, os.waitstatus_to_exitcode(status)


# 30 kills keep `make test` near ten minutes; FORECAST_KILLS=200 for a longer hunt
KILLS = int(os.environ.get("FORECAST_KILLS", "30"))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (POSIX)")
def test_sigkill_at_random_moments_leaves_the_store_intact(template, tmp_path):
    """Each trial forks a process running `forecast calibrate` (modules already imported, so the
    whole run is the calibration itself) and kills it with SIGKILL after a random delay."""
    runs = [_run_and_kill(template["file"], fresh_copy(template, tmp_path / f"t{i}" / "data"), None) for i in range(3)]
    assert all(code == 0 for _, code in runs)
    duration = max(d for d, _ in runs)
    t0 = time.perf_counter()
    prepare([template["file"]], Store(fresh_copy(template, tmp_path / "p" / "data")), None)
    prepare_s = time.perf_counter() - t0
    rng = random.Random(20240501)
    # a third anywhere in the run, the rest where the writes happen (after validate/diff/score)
    delays = [rng.uniform(0, duration * 1.25) for _ in range(KILLS // 3)] + [
        rng.uniform(prepare_s * 0.8, duration * 1.25) for _ in range(KILLS - KILLS // 3)
    ]
    seen = {"v1": 0, "v2": 0, "orphan": 0}
    for i, delay in enumerate(delays):
        root = fresh_copy(template, tmp_path / f"kill{i}" / "data")
        _run_and_kill(template["file"], root, delay)
        seen[assert_intact(root, template)] += 1
        seen["orphan"] += bool(Store(root).orphans())
        if i % 10 == 0 and Store(root).latest().id == "v1":  # the next calibration completes and cleans up
            calibrate_api(template["file"], root, root.parent / "out")
            assert assert_intact(root, template) == "v2" and Store(root).orphans() == []
    print(f"run {duration:.2f} s (validate+diff+score {prepare_s:.2f} s); {KILLS} kills -> {seen}")
    assert seen["v1"] + seen["v2"] == KILLS


@pytest.mark.slow
def test_real_subprocess_killed_at_random_moments(template, tmp_path):
    """The same through the installed command, killed over its whole life (imports included)."""
    exe = Path(sys.executable).parent / "forecast"
    if not exe.exists():
        pytest.skip("forecast command not installed next to the interpreter")
    rng = random.Random(7)
    for i in range(4):
        root = fresh_copy(template, tmp_path / f"sub{i}" / "data")
        p = subprocess.Popen(
            [
                str(exe),
                "calibrate",
                str(template["file"]),
                "--data",
                str(root),
                "--out",
                str(root.parent / "out"),
                "--no-refit",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 4.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert_intact(root, template)


@pytest.mark.parametrize("command", [["estimate"], ["scenarios"], ["backtest"], ["data", "show"], ["run"]])
def test_every_command_that_reads_data_takes_a_vintage(cli, command, tmp_path):
    code, _, err = (
        cli(*command, "--vintage", "v99", "--out", tmp_path)
        if command != ["data", "show"]
        else cli(*command, "--vintage", "v99")
    )
    assert code == 2
    assert "unknown vintage 'v99'" in err and err.count("\n") == 1


def test_data_init_copies_the_embedded_dataset_and_never_overwrites(cli, tmp_path):
    target = tmp_path / "mine"
    code, out, _ = cli("data", "init", target)
    assert code == 0 and (target / "observations.csv").is_file()
    code, _, err = cli("data", "init", target)
    assert code == 2 and "already exists" in err


def test_the_installed_embedded_dataset_is_never_calibrated_in_place(cli, tmp_path, monkeypatch):
    from forecast.core import resources

    monkeypatch.setattr(resources, "embedded_is_installed", lambda: True)
    monkeypatch.chdir(tmp_path)  # no ./data: the default is the embedded dataset
    f = tmp_path / "y1.csv"
    f.write_text(YEAR_1)
    before = sorted(p.name for p in resources.EMBEDDED_DATA_DIR.iterdir())
    code, _, err = cli("calibrate", f, "--out", tmp_path / "out", "--no-refit")
    assert code == 2 and "forecast data init" in err
    assert sorted(p.name for p in resources.EMBEDDED_DATA_DIR.iterdir()) == before
