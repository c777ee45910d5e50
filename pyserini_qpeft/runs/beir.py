"""Read BEIR folders (corpus.jsonl, queries.jsonl, qrels/*.tsv), TREC qrels and topic files."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.files.lines import MAX_RECORD_BYTES, text_lines
from pyserini_qpeft.text import bounded_int

Qrels = dict[str, dict[str, int]]
MAX_GRADE = 1000  # relevance grades are integers from -MAX_GRADE to MAX_GRADE (TREC uses -2 to 4)
_GRADE = re.compile(r"([+-]?)([0-9]+)(?:\.0*)?")  # "2", "-1", "+1", "2.0"


def _require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise InputError(f"{path}: {what} not found; {fix}")
    return path


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    # Split on "\n" only: some BEIR texts contain U+0085 and friends, which str.splitlines() would split on.
    for number, line in text_lines(path, MAX_RECORD_BYTES):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg}); fix or remove that line") from None
        if not isinstance(record, dict) or "_id" not in record:
            raise InputError(f'{path}:{number}: expected a JSON object with an "_id" field')
        yield number, record


def beir_dir(path: str | os.PathLike) -> Path:
    """Check that ``path`` is a BEIR folder (corpus.jsonl and queries.jsonl) and return it."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(f"{root}: BEIR folder not found; pass a folder holding corpus.jsonl, queries.jsonl and qrels/")
    fix = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
    _require_file(root / "corpus.jsonl", "corpus.jsonl", fix)
    _require_file(root / "queries.jsonl", "queries.jsonl", fix)
    return root


def iter_corpus(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the corpus records (``_id``, ``title``, ``text``) of a BEIR folder, in file order."""
    corpus = beir_dir(path) / "corpus.jsonl"
    for number, record in _jsonl(corpus):
        if not isinstance(record.get("text", ""), str) or not isinstance(record.get("title", ""), str):
            raise InputError(f'{corpus}:{number}: "title" and "text" must be strings')
        yield record


def load_queries(path: str | os.PathLike, split: str | None = None) -> dict[str, str]:
    """Query texts of a BEIR folder; with ``split``, only the queries judged in qrels/<split>.tsv, in qrels order."""
    root = beir_dir(path)
    queries = {}
    for number, record in _jsonl(root / "queries.jsonl"):
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(f'{root / "queries.jsonl"}:{number}: "text" must be a string')
        qid = str(record["_id"])
        if qid in queries:
            raise InputError(
                f"{root / 'queries.jsonl'}:{number}: query id {qid!r} appears twice; query ids must be unique"
            )
        queries[qid] = text
    if split is None:
        return queries
    qrels = load_qrels(qrels_path(root, split))
    missing = [qid for qid in qrels if qid not in queries]
    if missing:
        raise InputError(f"{qrels_path(root, split)}: query ids {missing[:5]} are not in {root / 'queries.jsonl'}")
    return {qid: queries[qid] for qid in qrels}


def qrels_path(root: str | os.PathLike, split: str) -> Path:
    """``root/qrels/<split>.tsv``, with an error listing the splits that exist."""
    folder = Path(root) / "qrels"
    path = folder / f"{split}.tsv"
    if not path.is_file():
        splits = sorted(p.stem for p in folder.glob("*.tsv")) if folder.is_dir() else []
        raise InputError(f"{path}: no such split {split!r}; available splits: {', '.join(splits) or 'none'}")
    return path


def _grade(path: Path, number: int, text: str) -> int:
    """A relevance grade: an integer (``2``, ``-1``, ``2.0``) from -MAX_GRADE to MAX_GRADE."""
    match = _GRADE.fullmatch(text)
    if match is None:
        try:
            float(text)
        except ValueError:
            raise InputError(f"{path}:{number}: relevance {short_repr(text)} is not a number") from None
        raise InputError(
            f"{path}:{number}: relevance {short_repr(text)} must be an integer grade (0 not relevant, 1, 2, ...)"
        )
    grade = bounded_int(match.group(2), MAX_GRADE)
    if grade > MAX_GRADE:
        raise InputError(
            f"{path}:{number}: relevance {short_repr(text)} is out of range; grades are integers from "
            f"-{MAX_GRADE} to {MAX_GRADE}"
        )
    return -grade if match.group(1) == "-" else grade


def load_qrels(path: str | os.PathLike) -> Qrels:
    """Read BEIR qrels TSV (``query-id corpus-id score`` with a header) or TREC qrels (``qid 0 docid rel``).

    Grades are integers from -MAX_GRADE to MAX_GRADE; a pair judged twice must have one grade (a repeat with the
    same grade is kept once, with another grade it is an :class:`InputError` naming both lines).
    """
    path = Path(path)
    _require_file(path, "qrels file", "pass a BEIR qrels TSV or a TREC qrels file")
    qrels: Qrels = {}
    lines: dict[tuple[str, str], int] = {}
    for number, line in text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if number == 1 and fields[0] in ("query-id", "query_id", "qid"):
            continue  # BEIR header
        if len(fields) == 3:
            qid, docid, rel = fields
        elif len(fields) == 4:
            qid, _, docid, rel = fields
        else:
            raise InputError(
                f"{path}:{number}: expected 'query-id corpus-id score' (BEIR) or 'qid 0 docid rel' (TREC), "
                f"got {len(fields)} fields"
            )
        grade = _grade(path, number, rel)
        judged = qrels.setdefault(qid, {})
        if docid in judged and judged[docid] != grade:
            raise InputError(
                f"{path}:{number}: document {docid!r} of query {qid!r} is judged {grade} here and "
                f"{judged[docid]} on line {lines[qid, docid]}; keep one judgment per pair"
            )
        judged[docid] = grade
        lines.setdefault((qid, docid), number)
    if not qrels:
        raise InputError(f"{path}: no judgments found")
    return qrels


def load_topics(path: str | os.PathLike) -> dict[str, str]:
    """Read a topics file with ``qid<TAB>text`` lines (Pyserini's TSV topics)."""
    path = Path(path)
    _require_file(path, "topics file", "pass a file of 'qid<TAB>query text' lines")
    topics: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in text_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        qid = qid.strip()
        if not sep or not qid:
            raise InputError(f"{path}:{number}: expected 'qid<TAB>query text'")
        if any(c.isspace() for c in qid):
            raise InputError(f"{path}:{number}: query id {qid!r} contains spaces; TREC query ids are one word")
        if not text.strip():
            raise InputError(f"{path}:{number}: query {qid!r} has empty text")
        if qid in topics:
            raise InputError(
                f"{path}:{number}: query id {qid!r} appears twice (first on line {lines[qid]}); "
                "query ids must be unique"
            )
        topics[qid], lines[qid] = text, number
    if not topics:
        raise InputError(f"{path}: no topics found")
    return topics


def first_queries(
    queries: dict[str, str], limit: int | None, minimum: int = 1, name: str = "--max-queries"
) -> dict[str, str]:
    """The first ``limit`` queries in order (all of them for None); a limit under ``minimum`` is an
    :class:`InputError` naming ``name``."""
    if limit is None:
        return queries
    if limit < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {limit}")
    return dict(list(queries.items())[:limit])
