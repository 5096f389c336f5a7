"""--jobs N and --scheduler (forecast.core.parallel): the same bytes on one process, on two, and on a
Dask cluster; bad values are usage errors (exit 2) that write nothing."""

from __future__ import annotations

import operator
from functools import partial
from pathlib import Path

import pytest

from forecast.core import parallel
from forecast.core.errors import EnvironmentFailure, InputError
from forecast.core.parallel import check_jobs, check_scheduler, map_jobs

BACKTEST_FILES = ("backtest.csv", "backtest_summary.csv")


def outputs(folder: Path, names=BACKTEST_FILES) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in names}


# --- map_jobs -------------------------------------------------------------------------------


def test_map_jobs_in_process_keeps_order_and_needs_no_pickling():
    seen = []

    def local(x):  # a closure: not picklable, fine in-process
        seen.append(x)
        return x * x

    assert map_jobs(local, range(5)) == [0, 1, 4, 9, 16]
    assert seen == [0, 1, 2, 3, 4]
    assert map_jobs(local, []) == []


def test_map_jobs_on_processes_keeps_order():
    items = list(range(40))
    assert map_jobs(partial(operator.mul, 3), items, jobs=2) == [3 * x for x in items]


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True, None])
def test_bad_jobs_are_input_errors(jobs):
    with pytest.raises(InputError, match="--jobs"):
        check_jobs(jobs)
    with pytest.raises(InputError):
        map_jobs(abs, [1], jobs=jobs)


@pytest.mark.parametrize("address", ["localhost:8786", "http://host:8786", "tcp://", "8786", "tcp:/host"])
def test_bad_scheduler_addresses_are_input_errors(address):
    with pytest.raises(InputError, match="Dask scheduler address"):
        check_scheduler(address)


def test_scheduler_addresses():
    assert check_scheduler(None) is None
    assert check_scheduler("  ") is None
    assert check_scheduler(" tcp://10.0.0.5:8786 ") == "tcp://10.0.0.5:8786"


def test_unreachable_scheduler_is_an_environment_failure(monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(EnvironmentFailure, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        map_jobs(abs, [1, 2], backend="tcp://127.0.0.1:9")


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def serial_backtest(tmp_path_factory) -> dict[str, bytes]:
    """`forecast backtest --jobs 1`: the reference bytes."""
    from click.testing import CliRunner

    from forecast.cli import main

    out = tmp_path_factory.mktemp("jobs1") / "out"
    r = CliRunner().invoke(main, ["backtest", "--out", str(out), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    return outputs(out)


@pytest.mark.slow
def test_backtest_jobs_2_is_byte_identical_to_jobs_1(cli, tmp_path, serial_backtest):
    code, _, err = cli("backtest", "--out", tmp_path / "out", "--jobs", 2)
    assert code == 0, err
    assert outputs(tmp_path / "out") == serial_backtest


@pytest.mark.parametrize(
    "args",
    [
        ["--jobs", "0"],
        ["--jobs", "-2"],
        ["--jobs", "two"],
        ["--jobs", "1.5"],
        ["--jobs", ""],
        ["--scheduler", "localhost:8786"],
        ["--scheduler", "http://localhost:8786"],
    ],
)
@pytest.mark.parametrize("command", ["backtest", "run", "scenarios"])
def test_bad_jobs_or_scheduler_exit_2_and_write_nothing(cli, tmp_path, command, args):
    out = tmp_path / "out"
    code, _, err = cli(command, "--out", out, *args)
    assert code == 2, err
    assert "Traceback" not in err and args[0] in err
    assert not out.exists()


def test_scheduler_from_the_environment_is_checked(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_DASK_SCHEDULER", "not-an-address")
    code, _, err = cli("backtest", "--out", tmp_path / "out")
    assert code == 2 and "FORECAST_DASK_SCHEDULER" in err
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_exits_1_with_one_line_and_writes_nothing(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "out"
    code, _, err = cli("backtest", "--out", out, "--scheduler", "tcp://127.0.0.1:9")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        next(line for line in err.splitlines() if "cannot reach the Dask scheduler" in line)
    ]
    assert "Traceback" not in err
    assert not (out / "backtest.csv").exists()


@pytest.fixture(scope="module")
def dask_cluster():
    """A local Dask cluster: two worker processes, one thread each (they import forecast by name,
    as the workers of a real cluster would)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
def test_backtest_on_a_local_dask_cluster_is_byte_identical(cli, tmp_path, serial_backtest, dask_cluster):
    code, _, err = cli("backtest", "--out", tmp_path / "out", "--scheduler", dask_cluster)
    assert code == 0, err
    assert outputs(tmp_path / "out") == serial_backtest


@pytest.mark.slow
def test_dask_cluster_through_the_environment_variable(cli, tmp_path, serial_backtest, dask_cluster, monkeypatch):
    monkeypatch.setenv("FORECAST_DASK_SCHEDULER", dask_cluster)
    code, _, err = cli("backtest", "--out", tmp_path / "out", "--jobs", 2)
    assert code == 0, err
    assert outputs(tmp_path / "out") == serial_backtest


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def serial_scenarios(tmp_path_factory) -> dict[str, bytes]:
    """`forecast scenarios --jobs 1` on the base vintage (every series from its own last figure):
    forecasts, draws, history and the fan charts, byte for byte."""
    from click.testing import CliRunner

    from forecast.cli import main

    out = tmp_path_factory.mktemp("scenarios1") / "out"
    r = CliRunner().invoke(main, ["scenarios", "--vintage", "base", "--out", str(out), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    files = tree(out)
    assert {"forecasts.csv", "forecast_draws.parquet", "history.csv"} <= set(files)
    assert sum(name.startswith("charts/") for name in files) >= 5
    return files


def test_scenarios_jobs_2_is_byte_identical_to_jobs_1(cli, tmp_path, serial_scenarios):
    """Each series' model and each fan chart is one task: two processes give the same files."""
    code, _, err = cli("scenarios", "--vintage", "base", "--out", tmp_path / "out", "--jobs", 2)
    assert code == 0, err
    assert tree(tmp_path / "out") == serial_scenarios


def test_scenarios_on_a_local_dask_cluster_is_byte_identical(cli, tmp_path, serial_scenarios, dask_cluster):
    code, _, err = cli("scenarios", "--vintage", "base", "--out", tmp_path / "out", "--scheduler", dask_cluster)
    assert code == 0, err
    assert tree(tmp_path / "out") == serial_scenarios


@pytest.mark.slow
def test_run_jobs_2_is_byte_identical_to_jobs_1(cli, tmp_path, quick_priors):
    """The main job: every CSV the same (run.json holds the date and the timings); a short sampler,
    since only the identity matters."""
    results = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        code, _, err = cli("run", "--out", out, "--no-report", "--jobs", jobs, "--priors", quick_priors)
        assert code == 0, err
        results[jobs] = {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}
    assert set(results[1]) >= {"estimates.csv", "forecasts.csv", *BACKTEST_FILES}
    assert results[1] == results[2]
