"""Writing results so that a failed command leaves nothing behind, and a spreadsheet runs nothing.

- every file is written atomically (temp file + rename), so a killed run never leaves half a file;
- ``output_folder``: a command writes its outputs into a temporary folder inside ``--out`` and moves
  them into place at the end, so a failure inside or after the fit leaves no partial outputs; while
  it writes, the folder is locked (``filelock``): a second run into the same folder is refused;
- a text cell that a spreadsheet would run as a formula (OWASP's CSV injection: it starts with
  ``=``, ``+``, ``-``, ``@``, tab or carriage return) is written with a leading single quote.
  Numbers are never touched, and a neutralised cell starts with a quote, so writing a table that
  was read back from such a file changes nothing (the contract reader keeps the quote).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from forecast.core.errors import EnvironmentFailure, InputError, Issue
from forecast.core.textfile import PLAIN_NUMBER

#: significant digits of a float in a CSV file
FLOAT_DIGITS = 6
#: OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LOCK_FILE = ".lock"
#: write failures of the machine (not of the input): a full disk or quota, a read-only disk, I/O
_DISK_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}
_STAGING_PREFIX = ".tmp-"


def _umask_mode() -> int:
    """The mode an ordinary new file gets (mkstemp's files are owner-only)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_temp(path: Path, data: bytes | memoryview) -> Path:
    """``data`` in a temporary file beside ``path`` (flushed to disk), ready to be renamed onto it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _umask_mode())
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc  # name the file (a write error does not)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    atomic_write_files({Path(path): data})


def atomic_write_files(files: dict[Path, bytes | memoryview]) -> list[Path]:
    """Write several files all or none: every one to a temporary file first, then all renamed.

    A failure while writing (a full disk) leaves every target as it was; only the renames, which
    need no space, come after the last byte is written.
    """
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temps[Path(path)] = _write_temp(Path(path), data)
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    return list(temps)


def _is_formula(cell) -> bool:
    return isinstance(cell, str) and cell.startswith(FORMULA_START) and not PLAIN_NUMBER.match(cell)


def _needs_care(cell) -> bool:
    return _is_formula(cell) or (isinstance(cell, str) and "\r" in cell)


def neutralise(cell):
    """A text cell a spreadsheet would run as a formula, with a leading single quote; anything else
    (numbers, text that is a plain number such as "-0.5", text already quoted) unchanged. A carriage
    return inside text becomes a line feed: the CSV writer would leave it unquoted, and every reader
    would break the row there."""
    if _is_formula(cell):
        cell = "'" + cell
    if isinstance(cell, str) and "\r" in cell:
        cell = cell.replace("\r\n", "\n").replace("\r", "\n")
    return cell


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell ``neutralise``d; every other cell, and every column's type, as it was."""
    out = df
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        formula = pd.Series([_needs_care(v) for v in s], index=s.index, dtype=bool)
        if formula.any():
            out = out.copy() if out is df else out
            safe = s.copy()  # keeps the column's type (a .map would infer a new one)
            safe[formula] = [neutralise(v) for v in s[formula]]
            out[col] = safe
    return out


def plain_float(x: float) -> str:
    """A float as a spreadsheet and a person read it: ``FLOAT_DIGITS`` significant digits, never in
    scientific notation (1095910, not 1.09591e+06; 0.00001, not 1e-05)."""
    return np.format_float_positional(x, precision=FLOAT_DIGITS, unique=False, fractional=False, trim="-")


def csv_bytes(df: pd.DataFrame, float_format=plain_float) -> bytes:
    """A table as the CSV every writer of the project writes: UTF-8, no index, formulas neutralised,
    floats to 6 significant digits without scientific notation."""
    text = neutralise_formulas(df).to_csv(index=False, float_format=float_format, lineterminator="\n")
    return text.encode("utf-8")


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """CSV that opens in spreadsheets safely: UTF-8, plain numbers, no index, no formulas."""
    atomic_write_bytes(path, csv_bytes(df))
    return path


# -- a spreadsheet workbook, without a spreadsheet library ----------------------------------------

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XLSX_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
{sheets}</Types>"""  # noqa: E501
_XLSX_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{i}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\n'
)
_XLSX_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""  # noqa: E501
_XLSX_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
</styleSheet>"""  # noqa: E501


def _xml_text(value) -> str:
    return escape(_XML_ILLEGAL.sub("", str(value)), {'"': "&quot;"})


def _column_name(j: int) -> str:
    name = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        name = chr(65 + r) + name
    return name


def _xlsx_cell(ref: str, value, bold: bool = False) -> str:
    style = ' s="1"' if bold else ""
    if isinstance(value, (bool, np.bool_)):
        value = str(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if not np.isfinite(value):
            return ""
        return f'<c r="{ref}"{style}><v>{plain_float(float(value)) if isinstance(value, float) else value}</v></c>'
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    return f'<c r="{ref}" t="inlineStr"{style}><is><t xml:space="preserve">{_xml_text(value)}</t></is></c>'


def _xlsx_sheet(df: pd.DataFrame) -> str:
    rows = [
        '<row r="1">' + "".join(_xlsx_cell(f"{_column_name(j)}1", c, True) for j, c in enumerate(df.columns)) + "</row>"
    ]
    for i, record in enumerate(df.itertuples(index=False, name=None), start=2):
        cells = "".join(_xlsx_cell(f"{_column_name(j)}{i}", v) for j, v in enumerate(record))
        rows.append(f'<row r="{i}">{cells}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" state="frozen"/></sheetView>'
        f"</sheetViews><sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """Tables as an Office Open XML workbook (.xlsx), one sheet each, header row bold and frozen.

    Written with the standard library (no spreadsheet package needed): numbers as numbers, text as
    inline strings, which a spreadsheet never runs as a formula.
    """
    names = [re.sub(r"[\[\]:*?/\\]", "_", n)[:31] for n in sheets]
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        + "".join(f'<sheet name="{_xml_text(n)}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(names, 1))
        + "</sheets></workbook>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            f'worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(names) + 1)
        )
        + f'<Relationship Id="rId{len(names) + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/styles" Target="styles.xml"/></Relationships>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            _XLSX_TYPES.format(sheets="".join(_XLSX_SHEET_TYPE.format(i=i) for i in range(1, len(names) + 1))),
        )
        z.writestr("_rels/.rels", _XLSX_ROOT_RELS)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        z.writestr("xl/styles.xml", _XLSX_STYLES)
        for i, df in enumerate(sheets.values(), 1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", _xlsx_sheet(df))
    return buf.getvalue()


def netcdf_bytes(idata) -> memoryview:
    """An ArviZ InferenceData as netCDF-4 bytes, built in memory (the groups ArviZ writes, compressed).

    HDF5 never writes to a disk itself: on a full disk it fails inside the library (and may crash
    the interpreter at exit); from memory, the file is written by ``atomic_write_bytes`` instead.
    """
    import h5netcdf

    buf = io.BytesIO()
    with h5netcdf.File(buf, "w") as f:
        f.attrs.update(idata.attrs)
    for group in idata.groups():
        data = getattr(idata, group)
        encoding = {name: {"zlib": True} for name, v in data.variables.items() if v.dtype.kind in "biufcS"}
        data.to_netcdf(buf, mode="a", group=group, engine="h5netcdf", encoding=encoding)
    return buf.getbuffer()  # no copy of a posterior that may be 100 MB


# -- the output folder of a command --------------------------------------------------------------


def check_output_folder(out: Path, option: str = "--out") -> None:
    """A usage check before anything runs: ``out`` is a folder, or can be made one, and is writable.

    Raises InputError (exit 2) naming the option and the folder; writes nothing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} {out}: is a file, not a folder")
    anchor = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
    if anchor is None or not anchor.is_dir():
        raise InputError(f"{option} {out}: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        where = "it" if anchor == out else f"{anchor}, where it would be made"
        raise InputError(f"{option} {out}: cannot write into {where} (permission denied)")


class FolderBusy(InputError):
    """Another run is writing the output folder."""


@contextlib.contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """A temporary folder inside ``out`` to write a command's outputs into; on success they are moved
    into ``out`` (replacing files of the same name), on failure removed, with ``out`` left as it was.

    ``out`` is locked meanwhile (``out/.lock``): a second command writing it fails at once with
    FolderBusy (exit 2). Raises InputError if ``out`` cannot be a folder; OSError (a full disk) as is.
    """
    out = Path(out)
    check_output_folder(out)
    made = [p for p in (out, *out.absolute().parents) if not p.exists()]
    had_lock = (out / LOCK_FILE).exists()
    out.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / LOCK_FILE))
    staging: Path | None = None
    acquired = moving = done = False
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise FolderBusy(
                Issue(str(out), None, None, "is being written by another run; wait for it, or choose another --out")
            ) from None
        acquired = True
        for old in out.glob(f"{_STAGING_PREFIX}*"):  # left by a killed run (we hold the lock)
            shutil.rmtree(old, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=out, prefix=_STAGING_PREFIX))
        yield staging
        moving = True
        _move_into(staging, out)
        done = True
    except OSError as exc:
        if exc.errno not in _DISK_FAILURES:
            raise
        left = "partly updated" if moving else "left as it was"
        raise EnvironmentFailure(f"{out}: cannot write the outputs ({exc.strerror}); the folder is {left}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if acquired and not done and not had_lock:  # leave no trace (unlinked while still held)
            (out / LOCK_FILE).unlink(missing_ok=True)
        if lock.is_locked:
            lock.release()
        if not done:  # and the folders this call made go again (never one another run holds)
            for p in made:  # deepest first
                with contextlib.suppress(OSError):
                    p.rmdir()


def _move_into(src: Path, dest: Path) -> None:
    """Move every entry of ``src`` into ``dest`` (merging folders; files replace files)."""
    dest.mkdir(exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dest / entry.name
        if entry.is_dir() and target.is_dir():
            _move_into(entry, target)
        else:
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(entry, target)
    fsync_dir(dest)


def fsync_dir(path: Path) -> None:
    """Make renames durable (POSIX); harmless elsewhere."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
