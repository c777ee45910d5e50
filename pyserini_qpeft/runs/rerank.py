"""Rerank a whole run (many queries) with a reranker, query by query."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from pyserini_qpeft.candidate import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.trec import Run

logger = logging.getLogger(__name__)


def rerank_run(
    reranker,
    run: Run,
    queries: dict[str, str],
    searcher,
    depth: int | None = None,
    source: str = "the run",
    on_query: Callable[[str, int], Any] | None = None,
    fusion_weight: float | None = None,
) -> Iterator[tuple[str, list]]:
    """Yield (qid, [(docid, score)]) for each query of ``run``, its top ``depth`` hits reranked (their scores
    fused with the run's when ``fusion_weight`` is given, see ``QPEFTReranker.rerank``).

    Document texts come from ``searcher``. ``source`` names the run in error messages;
    ``on_query(qid, n_pairs)`` is called after each query (for progress bars).
    """
    missing = [qid for qid in run if qid not in queries]
    if missing:
        raise InputError(
            f"{source}: query ids {missing[:5]} have no text in the topics; pass the matching --topics/--beir"
        )
    for qid, hits in run.items():
        candidates = [Candidate(docid=docid, score=score) for docid, score in hits]
        try:
            reranked = reranker.rerank(
                queries[qid], candidates, searcher=searcher, k=depth, fusion_weight=fusion_weight
            )
        except InputError as exc:
            raise InputError(f"{source}: query {qid}: {exc}") from None
        if on_query:
            on_query(qid, min(len(hits), depth or len(hits)))
        yield qid, [(c.docid, c.score) for c in reranked]
