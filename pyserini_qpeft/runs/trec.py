"""TREC run files: ``qid Q0 docid rank score tag`` lines."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.text import text_lines

Run = dict[str, list[tuple[str, float]]]  # qid -> [(docid, score)] in rank order


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run; each query's hits come back sorted by rank (score descending on ties of rank)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: run file not found")
    rows: dict[str, list[tuple[int, float, str]]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, line in text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            raise InputError(f"{path}:{number}: expected 6 fields 'qid Q0 docid rank score tag', got {len(fields)}")
        qid, _, docid, rank, score, _tag = fields
        if (qid, docid) in seen:
            raise InputError(
                f"{path}:{number}: document {docid!r} is listed twice for query {qid!r} "
                f"(first on line {seen[qid, docid]}); a run ranks each document once"
            )
        seen[qid, docid] = number
        try:
            value = float(score)
            rows.setdefault(qid, []).append((int(rank), value, docid))
        except ValueError:
            raise InputError(
                f"{path}:{number}: rank {short_repr(rank)} must be an integer and score {short_repr(score)} a number"
            ) from None
        if not math.isfinite(value):
            raise InputError(f"{path}:{number}: score {short_repr(score)} must be a finite number")
    if not rows:
        raise InputError(f"{path}: no run lines found")
    return {
        qid: [(docid, score) for _, score, docid in sorted(hits, key=lambda r: (r[0], -r[1]))]
        for qid, hits in rows.items()
    }


def format_run_lines(qid: str, hits: Sequence[tuple[str, float]], tag: str) -> list[str]:
    """TREC lines for one query; ``hits`` must already be in rank order."""
    return [f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n" for rank, (docid, score) in enumerate(hits, 1)]


def check_run_tag(tag: str) -> str:
    """A run tag must be one non-empty word, or the file would not parse back."""
    if not tag or any(c.isspace() for c in tag):
        raise InputError(f"run tag {tag!r} must be one word without spaces (--run-tag)")
    return tag


def write_run(path: str | os.PathLike, run: Run | Iterable[tuple[str, Sequence[tuple[str, float]]]], tag: str) -> None:
    """Write a run atomically (a temporary file renamed into place when complete)."""
    check_run_tag(tag)
    items = run.items() if isinstance(run, dict) else run
    with atomic_write(path) as handle:
        for qid, hits in items:
            handle.writelines(format_run_lines(qid, hits, tag))
