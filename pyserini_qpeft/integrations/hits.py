"""What ``rerank`` is given: the query and hit shapes it accepts, told apart by type, not by a stray attribute.

Queries: a ``str``, or a query object with a ``.text`` string (pygaggle's ``Query``, rank_llm's ``Query``).
Hits, all of one kind per call:
- ``candidate``: our :class:`~pyserini_qpeft.candidate.Candidate`;
- ``pygaggle``: pygaggle's ``Text`` (``.text``, ``.metadata``, ``.score``), ours or pygaggle's own;
- ``rank_llm``: rank_llm's ``Candidate`` (``.docid``, ``.score``, ``.doc`` dict), ours or rank_llm's own;
- ``pyserini``: a Pyserini hit (``io.anserini.search.ScoredDoc``) or any object with ``.docid`` and ``.score``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pyserini_qpeft.candidate import Candidate
from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.text import title_and_text

SCORELESS_KINDS = ("pygaggle", "rank_llm")  # their toolkits allow a hit without a score (score=None)


def query_text(query: Any) -> str:
    """The text of a query given as a string or as a pygaggle/rank_llm query object."""
    if isinstance(query, str):
        return query
    text = getattr(query, "text", None)
    if isinstance(text, str):
        return text
    raise InputError(
        f"query must be a str or an object with a .text string (pygaggle/rank_llm Query), got {type(query).__name__}"
    )


def check_pairs(pairs: Any) -> tuple[list[str], list[str]]:
    """The queries and documents of ``predict``'s (query, document) pairs, each pair two strings; a string, None
    or a pair of another shape is an :class:`InputError` naming it."""
    if isinstance(pairs, (str, bytes)) or not hasattr(pairs, "__iter__"):
        raise InputError(
            f"predict(pairs): pairs must be a list of (query, document) tuples, got {type(pairs).__name__}"
        )
    queries, docs = [], []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InputError(
                f"predict(pairs): pairs[{i}] is {short_repr(pair)}, not a (query, document) pair; "
                "pass a list of 2-tuples of strings"
            )
        query, doc = pair
        if not isinstance(query, str) or not isinstance(doc, str):
            raise InputError(
                f"predict(pairs): pairs[{i}] holds a {type(query).__name__} and a {type(doc).__name__}; "
                "the query and the document must be strings"
            )
        queries.append(query)
        docs.append(doc)
    return queries, docs


def hit_kind(hit: Any) -> str:
    """One of "candidate", "pygaggle", "rank_llm", "pyserini"; an InputError for anything else."""
    if isinstance(hit, Candidate):
        return "candidate"
    if type(hit).__name__ == "Text" and hasattr(hit, "metadata") and hasattr(hit, "text"):  # ours or pygaggle's
        return "pygaggle"
    if isinstance(getattr(hit, "doc", None), dict) and hasattr(hit, "docid"):  # ours or rank_llm's
        return "rank_llm"
    if isinstance(hit, (str, bytes)) or not (hasattr(hit, "docid") and hasattr(hit, "score")):
        raise InputError(
            f"cannot rerank a {type(hit).__name__}: pass Pyserini hits, Candidates, pygaggle Texts or "
            "rank_llm Candidates (to score plain texts, use score(query, docs))"
        )
    return "pyserini"


def as_hit_list(hits: Any) -> list:
    """``hits`` as a list (any iterable but a string)."""
    if isinstance(hits, (str, bytes)) or not hasattr(hits, "__iter__"):
        raise InputError(f"hits must be a list of hits, got {type(hits).__name__}")
    return list(hits)


def hits_kind(hits: Sequence[Any]) -> str | None:
    """The one kind shared by all ``hits`` (None for an empty list); mixed kinds are an error."""
    kinds = {hit_kind(hit) for hit in hits}
    if len(kinds) > 1:
        raise InputError(f"hits mix several kinds ({', '.join(sorted(kinds))}); pass one kind per call")
    return kinds.pop() if kinds else None


def check_hits(hits: Sequence[Any], kind: str | None) -> None:
    """Refuse hits a run file could not hold: a first-stage score that is not a finite number (NaN would make
    every fused score NaN; None only for the kinds in :data:`SCORELESS_KINDS`, which are then not fused), or a
    document listed twice (pygaggle ``Text``s have no docid to compare)."""
    seen: dict[str, int] = {}
    for i, hit in enumerate(hits):
        score = getattr(hit, "score", None)
        docid = None if kind == "pygaggle" else str(hit.docid)
        name = f"hits[{i}]" + ("" if docid is None else f" ({docid!r})")
        try:
            finite = (score is None and kind in SCORELESS_KINDS) or math.isfinite(float(score))
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise InputError(
                f"{name} has first-stage score {short_repr(score)}; scores must be finite numbers "
                "(drop the hit or give it one)"
            )
        if docid is not None:
            if docid in seen:
                raise InputError(f"{name} repeats hits[{seen[docid]}]; rerank each document once")
            seen[docid] = i


def hit_text(hit: Any, kind: str, searcher=None) -> str:
    """The text to score for one hit of ``kind`` (Pyserini hits read it from ``searcher`` or the hit's raw)."""
    if kind == "rank_llm":
        return rank_llm_text(hit)
    text = getattr(hit, "text", None) if kind == "candidate" else None
    if isinstance(text, str):
        return text
    if searcher is not None:
        from pyserini_qpeft.lucene.index import document_text

        return document_text(searcher, str(hit.docid))
    raw = getattr(hit, "raw", None) if kind == "pyserini" else None
    if raw is None and kind == "pyserini":
        lucene_document = getattr(hit, "lucene_document", None)
        raw = lucene_document.get("raw") if lucene_document is not None else None
    if not isinstance(raw, str):
        raise InputError(f"hit {hit.docid!r} has no text: pass searcher= so the text can be fetched from the index")
    from pyserini_qpeft.lucene.index import text_from_raw

    return text_from_raw(raw)


def rank_llm_text(candidate: Any) -> str:
    """The text to score for a rank_llm candidate, from its ``doc`` dict."""
    doc = getattr(candidate, "doc", None) or {}
    if not isinstance(doc, dict):
        return str(doc)
    for key in ("contents", "segment"):
        if isinstance(doc.get(key), str):
            return doc[key]
    if doc.get("text"):
        return title_and_text(doc.get("title"), doc["text"])
    raise InputError(f"candidate {candidate.docid!r} has no text: its doc needs 'contents', 'segment' or 'text'")


def to_candidates(hits: Sequence[Any], kind: str | None, searcher=None, depth: int | None = None) -> list[Candidate]:
    """``hits`` of one kind (not pygaggle's) as Candidates, the first-stage score kept; the top ``depth`` (all
    when None) with their texts, the rest with a text only where the hit carries one."""
    depth = len(hits) if depth is None else depth
    return [
        Candidate(
            docid=str(h.docid),
            score=float(h.score),
            text=hit_text(h, kind, searcher) if i < depth else h.text if kind == "candidate" else None,
            first_stage_score=float(h.score),
        )
        for i, h in enumerate(hits)
    ]
