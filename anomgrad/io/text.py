"""Text files (tracking CSVs, andi-datasets text files) checked before they are parsed.

:func:`check_text` refuses, naming the path, what would otherwise come back as a
decoding traceback or as quietly wrong numbers: a missing or empty file, a binary file
(NUL bytes or not UTF-8 near its start); :func:`check_line_end`, called once a file
parsed, refuses one whose last line has no line end.
Text writers (pandas, the csv module, numpy, TrackMate, the AnDi challenge) end every
line, so a missing final line end means the file was cut short (an interrupted copy, a
full disk) and its last number may be a fragment; the message says how to accept the
file if it is complete.
"""

from __future__ import annotations

import os

from .h5 import FileFormatError, existing_file

_SAMPLE = 65536


def check_text(path, what: str = "text file") -> str:
    """Raise :class:`FileFormatError` naming ``path`` unless it looks like a UTF-8
    text file; returns the path as ``str``."""
    path = os.fspath(path)
    existing_file(path, f"a {what}")
    with open(path, "rb") as f:
        head = f.read(_SAMPLE)
    if b"\0" in head:
        raise FileFormatError(f"{path}: a binary file, not a {what}")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut by the sample's end
            raise FileFormatError(f"{path}: not a UTF-8 {what} (byte {e.start}: "
                                  f"{e.reason})") from None
    return path


def check_line_end(path) -> None:
    """Raise :class:`FileFormatError` unless the file's last byte ends a line."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
    if last not in (b"\n", b"\r"):
        raise FileFormatError(f"{path}: the last line has no line end, so the file was "
                              f"probably cut short and its last number may be a fragment; "
                              f"if the file is complete, add a line end at its end")


__all__ = ["check_line_end", "check_text"]
