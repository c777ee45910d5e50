"""TREC run files: ``qid Q0 docid rank score tag`` lines."""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.files.lines import text_lines

Run = dict[str, list[tuple[str, float]]]  # qid -> [(docid, score)] in rank order

logger = logging.getLogger(__name__)


def trec_order(hits: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """One query's (docid, score) hits in trec_eval's order: score descending, ties by docid descending."""
    return sorted(hits, key=lambda hit: (hit[1], hit[0]), reverse=True)


def _check_rank_column(path: Path, rows: dict[str, list[tuple[int, int, str, float]]]) -> None:
    """Warn (once for the file) when its rank column puts a hit above one with a higher score."""
    for qid, hits in rows.items():
        lowest = None  # the lowest-scored hit of the better ranks: (rank, line, docid, score)
        for _, group in itertools.groupby(sorted(hits), key=lambda hit: hit[0]):
            group = list(group)
            best = max(group, key=lambda hit: hit[3])
            if lowest is not None and best[3] > lowest[3]:
                logger.warning(
                    "%s: the rank column disagrees with the scores (query %s: line %d ranks %s at %d, above %s on "
                    "line %d at %d with a higher score); hits are read in score order (ties by docid, descending), "
                    "as trec_eval reads them",
                    path,
                    qid,
                    lowest[1],
                    lowest[2],
                    lowest[0],
                    best[2],
                    best[1],
                    best[0],
                )
                return
            worst = min(group, key=lambda hit: hit[3])
            lowest = worst if lowest is None or worst[3] < lowest[3] else lowest


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run; each query's hits come back in trec_eval's order (:func:`trec_order`: score descending,
    ties by docid descending), whatever the rank column says; a warning says when that column disagrees."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: run file not found")
    rows: dict[str, list[tuple[int, int, str, float]]] = {}
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
            rows.setdefault(qid, []).append((int(rank), number, docid, value))
        except ValueError:
            raise InputError(
                f"{path}:{number}: rank {short_repr(rank)} must be an integer and score {short_repr(score)} a number"
            ) from None
        if not math.isfinite(value):
            raise InputError(f"{path}:{number}: score {short_repr(score)} must be a finite number")
    if not rows:
        raise InputError(f"{path}: no run lines found")
    _check_rank_column(path, rows)
    return {qid: trec_order((docid, score) for _, _, docid, score in hits) for qid, hits in rows.items()}


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
