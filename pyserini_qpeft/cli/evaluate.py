"""``pyserini-qpeft evaluate``: trec_eval metrics of a run against qrels."""

from __future__ import annotations

import argparse
import json

from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS, MAX_CUTOFF, evaluate, metric_list
from pyserini_qpeft.runs.trec import read_run


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "evaluate",
        help=f"trec_eval metrics ({', '.join(DEFAULT_METRICS)} by default)",
        description="Evaluate a TREC run against BEIR qrels TSV or TREC qrels.",
    )
    parser.add_argument("--run", required=True, metavar="FILE", help="TREC run file")
    parser.add_argument(
        "--qrels",
        required=True,
        metavar="FILE|NAME",
        help="BEIR qrels TSV (with header), TREC qrels, or a Pyserini qrels name (e.g. beir-v1.0.0-scifact-test)",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help=f"comma-separated, e.g. nDCG@10,R@100,MRR@10,MAP,P@5; a cutoff @k is from 1 to {MAX_CUTOFF} "
        "(deeper than the run is fine)",
    )
    parser.add_argument(
        "--complete",
        "-c",
        action="store_true",
        help="average over all judged queries, 0 for those missing from the run (trec_eval -c)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    metrics = metric_list(args.metrics)
    run_data = read_run(args.run)
    from pyserini_qpeft.lucene.names import read_qrels

    qrels = read_qrels(args.qrels, what="--qrels")
    scores = evaluate(run_data, qrels, metrics, complete=args.complete)
    queries = len([q for q in qrels if args.complete or q in run_data])
    if args.json:
        print(json.dumps({"run": args.run, "queries": queries, "metrics": scores}, indent=2))
    else:
        width = max(len(m) for m in scores)
        print(f"{'queries'.ljust(width)}  {queries}")
        for metric, value in scores.items():
            print(f"{metric.ljust(width)}  {value:.4f}")
    return 0
