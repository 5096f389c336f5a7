"""`forecast data ...`: validate, summarise and list the conflicts of data files."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.common import DATA_OPTION, VINTAGE_OPTION, friendly


@click.group()
def data() -> None:
    """Inspect and validate data files (observations, multiplier evidence, conflicts)."""


@data.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@friendly
def data_check(file: Path) -> None:
    """Validate FILE against the data contract (DESIGN.md).

    The kind of table is read from the header (observations, multiplier evidence or conflicts).
    Every problem is printed as one line naming the file, row and column; exit code 2.
    """
    from forecast.data.contract import check_file

    kind, table = check_file(file)
    click.echo(f"{file}: OK — {len(table)} {kind} rows")


@data.command("show")
@DATA_OPTION
@VINTAGE_OPTION
@friendly
def data_show(data_dir: Path | None, vintage: str | None) -> None:
    """Summarise the dataset: every series, the years it covers, figures per source."""
    from forecast.cli.tables import print_table
    from forecast.data.dataset import load_dataset
    from forecast.data.summary import dataset_summary, source_counts

    ds = load_dataset(data_dir, vintage)
    print_table(dataset_summary(ds.observations), title=f"Series in {ds.folder}")
    print_table(source_counts(ds.observations, ds.multipliers), title="Figures per source")
    click.echo(
        f"{len(ds.observations)} observations, {len(ds.multipliers)} multiplier evidence rows, "
        f"{len(ds.conflicts)} recorded conflicts."
    )


@data.command("conflicts")
@DATA_OPTION
@friendly
def data_conflicts(data_dir: Path | None) -> None:
    """List the recorded conflicts between (and within) sources, each with both refs."""
    from forecast.cli.tables import print_table
    from forecast.data.dataset import load_dataset

    ds = load_dataset(data_dir)
    cols = ["id", "topic", "says_a", "ref_a", "says_b", "ref_b"]
    print_table(ds.conflicts[cols], title=f"{len(ds.conflicts)} recorded conflicts")


@data.command("init")
@click.argument("folder", type=click.Path(path_type=Path))
@friendly
def data_init(folder: Path) -> None:
    """Copy the embedded dataset (with its vintages) into FOLDER, to calibrate or edit it there.

    FOLDER must not exist yet (nothing is ever overwritten). Afterwards pass `--data FOLDER`, or
    run commands from FOLDER's parent with FOLDER named `data` (./data is read by default).
    """
    import shutil

    from forecast.core.errors import InputError
    from forecast.core.resources import EMBEDDED_DATA_DIR

    if folder.exists():
        raise InputError(f"{folder}: already exists; `forecast data init` writes only into a new folder")
    tmp = folder.with_name(f".{folder.name}.tmp-init")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(EMBEDDED_DATA_DIR, tmp, ignore=shutil.ignore_patterns(".lock", ".tmp-*", "__pycache__"))
        tmp.rename(folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{folder}: cannot create it ({exc.strerror or exc})") from None
    click.echo(f"Copied the embedded dataset into {folder}/. Calibrate it: `forecast calibrate FILE --data {folder}`.")
