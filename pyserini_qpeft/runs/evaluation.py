"""trec_eval metrics through pytrec_eval, with the names IR papers use (nDCG@10, R@100, MRR@10).

A cutoff ``@k`` is an integer from 1 to :data:`MAX_CUTOFF`; as in trec_eval, one deeper than the run is valid (the
run is taken whole). Hits are ranked by score (ties by docid, descending), as trec_eval ranks them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.runs.trec import Run, trec_order
from pyserini_qpeft.text import bounded_int

DEFAULT_METRICS = ("nDCG@10", "R@100", "MRR@10")
MAX_CUTOFF = 100_000  # the deepest @k; deeper than any run we write (pytrec_eval misreads huge ones)
EXAMPLES = "use names like nDCG@10, R@100, MRR@10, MAP, P@5"

_PATTERNS = {
    "ndcg": "ndcg_cut_{k}",
    "r": "recall_{k}",
    "recall": "recall_{k}",
    "p": "P_{k}",
    "map": "map_cut_{k}",
}


def _parse(metric: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"([A-Za-z]+)(?:@([0-9]+))?", metric.strip())
    if not match:
        raise InputError(f"--metrics: cannot read {short_repr(metric)}; {EXAMPLES}")
    if match.group(2) is None:
        return match.group(1).lower(), None
    cutoff = bounded_int(match.group(2), MAX_CUTOFF)
    if not 1 <= cutoff <= MAX_CUTOFF:
        raise InputError(
            f"--metrics: {short_repr(metric.strip())}: the cutoff must be from 1 to {MAX_CUTOFF} "
            "(one deeper than the run is fine: the run is taken whole)"
        )
    return match.group(1).lower(), cutoff


def _measure(metric: str) -> tuple[str, int | None]:
    """The pytrec_eval measure for a metric name, and the cutoff applied before it (MRR@k only)."""
    name, k = _parse(metric)
    if name in ("mrr", "rr"):
        return "recip_rank", k
    if name in _PATTERNS and k is not None:
        return _PATTERNS[name].format(k=k), None
    if name in ("map", "ndcg") and k is None:
        return name, None
    raise InputError(f"--metrics: unknown metric {short_repr(metric)}; use nDCG@k, R@k, P@k, MRR[@k], MAP[@k]")


def per_query(
    run: Run, qrels: dict[str, dict[str, int]], metrics: Sequence[str] = DEFAULT_METRICS, complete: bool = False
) -> dict[str, dict[str, float]]:
    """metric -> {qid: value}.

    Like trec_eval, the queries are those judged and in the run; with ``complete`` (trec_eval -c) every
    judged query counts, scoring 0 where the run has nothing for it.
    """
    import pytrec_eval

    metrics = list(_nonempty(metrics))
    measures = [_measure(metric) for metric in metrics]  # every name checked before any work
    results: dict[str, dict[str, float]] = {}
    judged = {qid: docs for qid, docs in qrels.items() if docs and (complete or qid in run)}
    for metric, (measure, cutoff) in zip(metrics, measures):
        scored = run
        if cutoff is not None:  # cut after ranking as trec_eval does: score descending, then docid descending
            scored = {qid: trec_order(hits)[:cutoff] for qid, hits in run.items()}
        trec_run = {
            qid: {docid: float(score) for docid, score in hits} for qid, hits in scored.items() if qid in judged
        }
        evaluator = pytrec_eval.RelevanceEvaluator(judged, {measure})
        values = evaluator.evaluate(trec_run)
        results[metric] = {qid: values.get(qid, {}).get(measure, 0.0) for qid in judged}
    return results


def evaluate(
    run: Run, qrels: dict[str, dict[str, int]], metrics: Sequence[str] = DEFAULT_METRICS, complete: bool = False
) -> dict[str, float]:
    """Mean of each metric over the evaluated queries (see :func:`per_query`).

    As in trec_eval, ranking within a query follows the scores (ties broken by docid), not the file order.
    """
    if not any(qid in qrels for qid in run):
        raise InputError("the run and the qrels share no query ids; check that they belong to the same topics")
    table = per_query(run, qrels, metrics, complete)
    return {metric: sum(values.values()) / len(values) for metric, values in table.items()}


def _nonempty(metrics: Sequence[str]) -> Sequence[str]:
    if isinstance(metrics, str):
        raise InputError(f"metrics must be a list of names, got the string {short_repr(metrics)}; wrap it in a list")
    if not metrics:
        raise InputError(f"--metrics: no metric given; {EXAMPLES}")
    return metrics


def check_metric(name: str) -> str:
    """``name`` when it is a metric this module computes (nDCG@10, MAP, ...), else an :class:`InputError`."""
    _measure(name)
    return name


def metric_list(text: str | None) -> list[str]:
    """Split a comma-separated ``--metrics`` value, each name checked (None gives the defaults; a value that names
    no metric, such as ",,,", is an :class:`InputError`; an empty value gives the defaults too)."""
    if not text:
        return list(DEFAULT_METRICS)
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise InputError(f"--metrics: {short_repr(text)} names no metric; {EXAMPLES}")
    for name in names:
        _measure(name)
    return names
