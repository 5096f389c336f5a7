"""Reading a user's text file (CSV, TOML) with one clear line for every way it can be unreadable.

A spreadsheet or an editor on another system may save UTF-16 (with or without a byte-order mark),
Latin-1, or a binary file under a .csv name; each gets a message saying how to save it, and no
raw NUL byte or control character ever reaches the terminal.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from forecast.core.errors import InputError, Issue

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
SAVE_AS_UTF8 = "save the file as UTF-8"


def read_text(path: Path, error: type[InputError] = InputError, what: str = "text file") -> str:
    """The file's text (UTF-8, with or without a BOM); ``error`` naming the file and line otherwise."""
    path = Path(path)

    def fail(problem: str, line: int | None = None) -> InputError:
        return error(Issue(str(path), line, None, problem))

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fail("file not found") from None
    except IsADirectoryError:
        raise fail(f"is a folder, not a {what}") from None
    except OSError as exc:
        raise fail(f"cannot be read ({exc.strerror or exc})") from None
    if raw.startswith(_UTF32_BOMS):  # before UTF-16: a UTF-32-LE BOM begins with the UTF-16-LE one
        raise fail(f"not UTF-8 text: UTF-32 (it starts with a UTF-32 byte-order mark); {SAVE_AS_UTF8}")
    if raw.startswith(_UTF16_BOMS):
        raise fail(f"not UTF-8 text: UTF-16 (it starts with a UTF-16 byte-order mark); {SAVE_AS_UTF8}")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        if _looks_like_utf16(raw):
            raise fail(f"not UTF-8 text: UTF-16 without a byte-order mark (NUL bytes between letters); {SAVE_AS_UTF8}")
        raise fail(f"contains a NUL byte (0x00): not a {what}, or a damaged one; {SAVE_AS_UTF8}", line)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise fail(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); {SAVE_AS_UTF8}", line) from None


def _looks_like_utf16(raw: bytes) -> bool:
    """Mostly-ASCII UTF-16: every other byte is NUL (at even offsets for big-endian, odd for little)."""
    sample = raw[:4096]
    half = max(1, len(sample) // 2)
    return sample[0::2].count(0) >= 0.4 * half or sample[1::2].count(0) >= 0.4 * half


#: A number as a CSV cell writes it (no thousands separator, a dot for decimals, no inf or nan).
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
