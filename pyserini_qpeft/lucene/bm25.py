"""BM25 retrieval over a Lucene index with Pyserini's ``LuceneSearcher``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.trec import Run


def bm25_search(
    searcher,
    queries: dict[str, str],
    hits: int = 1000,
    threads: int = 1,
    chunk: int = 64,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, list[Any]]:
    """Search every query; returns qid -> Pyserini hits (``.docid``, ``.score``), queries in input order.

    Empty queries are rejected (Lucene would silently return nothing). ``progress(n)`` is called per chunk.
    """
    if hits < 1:
        raise InputError(f"--hits must be at least 1, got {hits}")
    for qid, text in queries.items():
        if not text or not text.strip():
            raise InputError(f"query {qid!r} is empty; remove it from the topics or give it text")
    qids = list(queries)
    results: dict[str, list[Any]] = {}
    for start in range(0, len(qids), chunk):
        part = qids[start : start + chunk]
        if threads > 1:
            found = searcher.batch_search([queries[q] for q in part], part, k=hits, threads=threads)
        else:
            found = {qid: searcher.search(queries[qid], k=hits) for qid in part}
        for qid in part:
            results[qid] = list(found.get(qid, []))
        if progress:
            progress(len(part))
    return results


def hits_to_run(results: dict[str, list[Any]]) -> Run:
    """Pyserini hits (anything with ``.docid`` and ``.score``) to a run of (docid, score) lists."""
    return {qid: [(hit.docid, float(hit.score)) for hit in hits] for qid, hits in results.items()}
