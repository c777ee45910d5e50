"""BM25 + reranker score interpolation, with the weight picked on a dev split.

For each query, the first stage's and the reranker's scores of the top ``depth`` first-stage hits are
min-max normalised to [0, 1] and mixed as ``alpha * first_stage + (1 - alpha) * reranker`` (the
"normalize then interpolate" fusion of Pyserini's ``pyserini.fusion``). Hits below ``depth`` keep their
first-stage order under the fused ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.trec import Run

FROM_CHECKPOINT = "checkpoint"  # fusion_weight default: the weight saved in the checkpoint (or none)


def _min_max(scores: Sequence[float]) -> list[float]:
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high == low:
        return [0.0] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def check_weight(weight: float, name: str = "fusion weight") -> float:
    """A fusion weight must be a number in [0, 1]."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
        raise InputError(f"the {name} must be a number in [0, 1] (the first stage's share), got {weight!r}")
    return float(weight)


def fuse(first_stage: Sequence[float], reranker: Sequence[float], weight: float) -> list[float]:
    """``weight * minmax(first_stage) + (1 - weight) * minmax(reranker)``, element by element (one query)."""
    first, second = _min_max(list(first_stage)), _min_max(list(reranker))
    return [weight * a + (1 - weight) * b for a, b in zip(first, second)]


def fused_tag(tag: str, weight: float | None) -> str:
    """The run tag that says a run was fused, and with which weight: ``qpeft`` -> ``qpeft-fused0.30``."""
    return tag if weight is None else f"{tag}-fused{weight:.2f}"


def interpolate(first_stage: Run, reranked: Run, alpha: float, depth: int) -> Run:
    """Fuse a first-stage run and a reranked run of the same candidates (see the module docstring)."""
    check_weight(alpha, "interpolation weight")
    if depth < 1:
        raise InputError(f"depth must be at least 1, got {depth}")
    fused: Run = {}
    for qid, hits in first_stage.items():
        head = hits[:depth]
        reranker_scores = dict(reranked.get(qid, []))
        missing = [docid for docid, _ in head if docid not in reranker_scores]
        if missing:
            raise InputError(
                f"query {qid}: the reranked run has no score for {missing[:3]}; rerank the same "
                f"top {depth} hits as the first-stage run"
            )
        fused_scores = fuse([score for _, score in head], [reranker_scores[docid] for docid, _ in head], alpha)
        scored = [(docid, value) for (docid, _), value in zip(head, fused_scores)]
        scored.sort(key=lambda pair: pair[1], reverse=True)
        tail = [(docid, -1.0 - rank) for rank, (docid, _) in enumerate(hits[depth:])]
        fused[qid] = scored + tail
    return fused


def pick_weight(
    first_stage: Run,
    reranked: Run,
    qrels: dict[str, dict[str, int]],
    depth: int,
    metric: str = "nDCG@10",
    steps: int = 20,
) -> tuple[float, dict[float, float]]:
    """The weight in ``{0, 1/steps, ..., 1}`` with the best ``metric`` (ties: the smallest weight) and every score."""
    from pyserini_qpeft.runs.evaluation import evaluate  # pytrec_eval: only when a weight is picked

    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    grid = [round(i / steps, 6) for i in range(steps + 1)]
    scores = {
        alpha: evaluate(interpolate(first_stage, reranked, alpha, depth), qrels, [metric])[metric] for alpha in grid
    }
    best = max(grid, key=lambda alpha: (scores[alpha], -alpha))
    return best, scores
