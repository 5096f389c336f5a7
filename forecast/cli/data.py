"""`forecast data ...`: validate, summarise and list the conflicts of data files."""

from __future__ import annotations

from pathlib import Path

import click

from forecast.cli.common import DATA_HELP, VINTAGE_OPTION, friendly


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
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
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
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help=DATA_HELP)
@friendly
def data_conflicts(data_dir: Path | None) -> None:
    """List the recorded conflicts between (and within) sources, each with both refs."""
    from forecast.cli.tables import print_table
    from forecast.data.dataset import load_dataset

    ds = load_dataset(data_dir)
    cols = ["id", "topic", "says_a", "ref_a", "says_b", "ref_b"]
    print_table(ds.conflicts[cols], title=f"{len(ds.conflicts)} recorded conflicts")
