"""The shapes other reranking toolkits use, so ``QPEFTReranker`` drops into their pipelines.

- pygaggle: ``Query(text, id)``, ``Text(text, metadata, score, title)``; ``rescore`` sets scores,
  ``rerank`` also sorts (``QPEFTReranker.rerank`` hands Texts here); both orders come from
  ``QPEFTReranker.rerank_candidates``, as rank_llm's do. Defined here because importing pygaggle
  fails on current Pyserini.
- rank_llm: ``Request(query, candidates)`` in, ``Result(query, candidates, invocations_history)`` out.
  rank_llm's own dataclasses are used when the requests are rank_llm's; ours otherwise.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyserini_qpeft.candidate import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.integrations.hits import check_hits, query_text, rank_llm_text
from pyserini_qpeft.text import title_and_text


@dataclass
class Query:
    """pygaggle's query: text and an optional id."""

    text: str
    id: str | None = None


@dataclass
class Text:
    """pygaggle's candidate text, with its score after reranking."""

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = 0.0
    title: str | None = None


@dataclass
class RankQuery:
    """rank_llm's ``Query``."""

    text: str
    qid: Any = None


@dataclass
class RankCandidate:
    """rank_llm's ``Candidate``: ``doc`` holds "contents", or "title"/"text", or "segment"."""

    docid: Any
    score: float
    doc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """rank_llm's ``Request``."""

    query: RankQuery
    candidates: list[RankCandidate] = field(default_factory=list)


@dataclass
class Result:
    """rank_llm's ``Result``."""

    query: RankQuery
    candidates: list[RankCandidate] = field(default_factory=list)
    invocations_history: list[Any] = field(default_factory=list)


def pygaggle_text(text: Text) -> str:
    """The text to score for a pygaggle ``Text``: "title\\ntext" when it has a title."""
    return title_and_text(getattr(text, "title", None), text.text)


def rescore_texts(reranker, query: Any, texts: Sequence[Text]) -> list[Text]:
    """New ``Text`` objects (same order) whose ``score`` is the reranker's; ``query`` is a str or a ``Query``."""
    scores = reranker.score(query_text(query), [pygaggle_text(t) for t in texts]) if texts else []
    return [with_score(t, s) for t, s in zip(texts, scores)]


def _reranked(reranker, query: str, items: Sequence[Any], texts: list[str], fusion_weight: float | None) -> list:
    """Copies of ``items`` in the order and with the scores :meth:`QPEFTReranker.rerank_candidates` gives: the
    first ``len(texts)`` scored on ``texts`` (fused with their own scores when ``fusion_weight`` is given and every
    one of them has a number), the rest below them in their order."""
    depth = len(texts)
    first = [getattr(item, "score", None) for item in items[:depth]]
    if not all(isinstance(score, (int, float)) for score in first):
        fusion_weight = None
    candidates = [
        Candidate(str(i), text=texts[i] if i < depth else None, first_stage_score=first[i] if i < depth else None)
        for i in range(len(items))
    ]
    ranked = reranker.rerank_candidates(query, candidates, depth, fusion_weight)
    return [with_score(items[int(c.docid)], c.score) for c in ranked]


def rerank_texts(
    reranker, query: Any, texts: Sequence[Text], depth: int | None = None, fusion_weight: float | None = None
) -> list[Text]:
    """pygaggle's ``rerank``: new ``Text`` objects, the top ``depth`` (all when None) sorted by the reranker's
    score (best first; fused with their own scores when ``fusion_weight`` is given and every Text has one),
    then the rest in their order with scores below them."""
    depth = len(texts) if depth is None else depth
    return _reranked(reranker, query_text(query), texts, [pygaggle_text(t) for t in texts[:depth]], fusion_weight)


def with_score(obj: Any, score: float) -> Any:
    """A copy of ``obj`` (a dataclass or any object) with a new ``score``; the original is untouched."""
    if dataclasses.is_dataclass(obj):
        return dataclasses.replace(obj, score=score)
    import copy

    new = copy.copy(obj)
    new.score = score
    return new


def _result_type(request: Any):
    module = sys.modules.get(type(request).__module__)
    return getattr(module, "Result", Result) if module is not None and module.__name__ != __name__ else Result


def rerank_requests(
    reranker, requests: Sequence[Any], rank_start: int = 0, rank_end: int = 100, fusion_weight: float | None = None
) -> list[Any]:
    """rank_llm's ``rerank_batch``: reorder ``candidates[rank_start:rank_end]`` of each request by score
    (fused with the candidates' own scores when ``fusion_weight`` is given)."""
    if rank_start < 0 or rank_end < rank_start:
        raise InputError(f"need 0 <= rank_start <= rank_end, got {rank_start} and {rank_end}")
    results = []
    for request in requests:
        candidates = list(request.candidates)
        check_hits(candidates, "rank_llm")
        window = candidates[rank_start:rank_end]
        texts = [rank_llm_text(c) for c in window]
        rescored = _reranked(reranker, query_text(request.query), window, texts, fusion_weight)
        reordered = candidates[:rank_start] + rescored + candidates[rank_end:]
        results.append(_result_type(request)(query=request.query, candidates=reordered, invocations_history=[]))
    return results
