"""Writing results: atomic (temp file + rename), so a killed run never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

FLOAT_FORMAT = "%.6g"


def _umask_mode() -> int:
    """The mode an ordinary new file gets (mkstemp's files are owner-only)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """CSV that opens in spreadsheets: UTF-8, plain numbers, no index."""
    atomic_write_bytes(path, df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode())
    return path


def write_netcdf(idata, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        idata.to_netcdf(tmp, engine="h5netcdf")
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
