"""Line-by-line reading of UTF-8 files with a bound on line length.

Every line-oriented input (runs, qrels, topics, BEIR ``corpus.jsonl`` and ``queries.jsonl``) is read here, so a
file with no newline (a 3 GB binary, a sparse file) fails at once with ``file:line`` instead of being read whole
into memory. The bounds are generous: no real TREC or TSV line comes near :data:`MAX_LINE_BYTES`, and no BEIR
record near :data:`MAX_RECORD_BYTES`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from pyserini_qpeft.errors import InputError

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a line of a TREC run, a qrels file (TREC or BEIR TSV) or a topics TSV
MAX_RECORD_BYTES = 64 << 20  # 64 MiB: one JSON record of a BEIR corpus.jsonl or queries.jsonl


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 and limit % (1 << 20) == 0 else f"{limit} bytes"


def raw_lines(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, line as bytes with its newline) of a file, split on ``b"\\n"`` only.

    A line longer than ``limit`` bytes (default :data:`MAX_LINE_BYTES`) is an :class:`InputError` naming the file
    and line; at most ``limit + 1`` bytes of it are read.
    """
    limit = MAX_LINE_BYTES if limit is None else limit
    with open(path, "rb") as handle:
        number = 0
        while line := handle.readline(limit + 1):
            number += 1
            if len(line) > limit and not line.endswith(b"\n"):
                raise InputError(
                    f"{path}:{number}: line longer than {_size(limit)} (no newline in its first {limit + 1} bytes); "
                    "lines of this file are far shorter: is it the right file, or damaged?"
                )
            yield number, line


def text_lines(path: str | os.PathLike, limit: int | None = None) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 file (a byte-order mark is dropped), split on "\\n" only, each line at most
    ``limit`` bytes (default :data:`MAX_LINE_BYTES`; see :func:`raw_lines`).

    A non-UTF-8 line is an :class:`InputError` naming the file and line.
    """
    for number, raw in raw_lines(path, limit):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}:{number}: not UTF-8 text ({exc.reason}); convert the file to UTF-8") from None
        yield number, line
