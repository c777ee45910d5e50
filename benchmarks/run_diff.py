"""How far two runs of the same system differ (e.g. the same checkpoint scored in bf16 on this CPU and on a GPU):
nDCG@10 of each (every judged query), the paired t-test between them, how many queries' top 10 differ, and the
absolute difference of the scores the two runs give the same document.

    .venv/bin/python benchmarks/run_diff.py --beir ../shared/data/scifact A.trec B.trec [--split test]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from pyserini_qpeft.runs.beir import load_qrels, qrels_path
from pyserini_qpeft.runs.evaluation import per_query
from pyserini_qpeft.runs.trec import read_run

from benchlib import paired_t_test


def compare(run_a: dict, run_b: dict, qrels: dict) -> dict:
    """nDCG@10 of each, p, queries whose top 10 differ, and the median and largest score difference."""
    a = per_query(run_a, qrels, ["nDCG@10"], complete=True)["nDCG@10"]
    b = per_query(run_b, qrels, ["nDCG@10"], complete=True)["nDCG@10"]
    qids = sorted(a)
    values_a, values_b = [a[q] for q in qids], [b.get(q, 0.0) for q in qids]
    gaps = []
    for qid, hits in run_a.items():
        other = dict(run_b.get(qid, []))
        gaps += [abs(score - other[docid]) for docid, score in hits if docid in other]
    return {
        "queries": len(qids),
        "ndcg@10": [statistics.fmean(values_a), statistics.fmean(values_b)],
        "p": paired_t_test(values_a, values_b)[1] if values_a != values_b else None,
        "queries_ndcg_differs": sum(x != y for x, y in zip(values_a, values_b)),
        "queries_top10_differs": sum(
            [d for d, _ in hits[:10]] != [d for d, _ in run_b.get(qid, [])[:10]] for qid, hits in run_a.items()
        ),
        "score_abs_diff": {"median": statistics.median(gaps), "max": max(gaps)} if gaps else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("runs", nargs=2, metavar="RUN")
    args = parser.parse_args(argv)
    result = compare(read_run(args.runs[0]), read_run(args.runs[1]), load_qrels(qrels_path(args.beir, args.split)))
    gap = result["score_abs_diff"]
    p = "n/a" if result["p"] is None else f"{result['p']:.3f}"
    print(
        f"{args.runs[0]} vs {args.runs[1]}: nDCG@10 {result['ndcg@10'][0]:.4f} vs {result['ndcg@10'][1]:.4f} "
        f"({result['queries']} queries, p {p}); nDCG@10 differs on {result['queries_ndcg_differs']}, the top 10 on "
        f"{result['queries_top10_differs']}; score |difference| median {gap['median']:.3f}, max {gap['max']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
