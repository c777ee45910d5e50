"""Recompute a committed table's nDCG@10 from its TREC runs with pytrec_eval alone, and compare to four decimals.

Reads ``TABLE/results.json`` (written by ``bench_table.py``) and every ``TABLE/runs/NAME.trec.gz`` it names, scores
each run with pytrec_eval against the BEIR qrels given, averaged over every judged query (a query the run does not
retrieve for counts 0, as ``evaluate --complete`` does), and writes ``verification.json`` and ``verification.md``
beside the table. Exits 1 when a figure differs by 0.00005 or more. Nothing of this package scores the runs.

    python benchmarks/verify_table.py --table benchmarks/results/scifact_table \\
        --qrels ../shared/data/scifact/qrels/test.tsv
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections import defaultdict
from pathlib import Path

import pytrec_eval


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """BEIR qrels (a TSV with a header: query-id, corpus-id, score)."""
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = int(row["score"])
    return dict(qrels)


def read_trec(path: Path) -> dict[str, dict[str, float]]:
    """A TREC run, gzipped or not: query -> document -> score."""
    run: dict[str, dict[str, float]] = defaultdict(dict)
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as handle:
        for line in handle:
            if line.strip():
                query, _, doc, _, score, _ = line.split()
                run[query][doc] = float(score)
    return dict(run)


def ndcg_at_10(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 over every query of ``qrels``; those missing from ``run`` count 0."""
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    return sum(per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / len(qrels)


def verify(table: Path, qrels_path: Path) -> dict:
    """Each system's nDCG@10 as the table has it and as pytrec_eval gives it from the committed run."""
    result = json.loads((table / "results.json").read_text())
    qrels = read_qrels(qrels_path)
    if result["queries"] != len(qrels):
        raise SystemExit(
            f"{table / 'results.json'} covers {result['queries']} queries but {qrels_path} judges {len(qrels)}; "
            "give the qrels of the table's split (a table over part of a split cannot be checked this way)"
        )
    rows = {}
    for name, row in result["table"].items():
        run_path = table / "runs" / f"{name}.trec.gz"
        ours = row["nDCG@10"]["mean"]
        theirs = ndcg_at_10(read_trec(run_path), qrels)
        rows[name] = {
            "run": str(run_path),
            "table": ours,
            "pytrec_eval": theirs,
            "agrees": abs(ours - theirs) < 5e-5,
        }
    return {"table": str(table), "qrels": str(qrels_path), "queries": len(qrels), "systems": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--table", type=Path, required=True, help="a bench_table.py output folder (results.json, runs/)"
    )
    parser.add_argument("--qrels", type=Path, required=True, help="the BEIR qrels TSV of the table's split")
    args = parser.parse_args(argv)
    found = verify(args.table, args.qrels)
    lines = [
        f"# {args.table.name}: nDCG@10 recomputed with pytrec_eval",
        "",
        f"`python benchmarks/verify_table.py --table {args.table} --qrels {args.qrels}`: each committed run scored by "
        f"pytrec_eval alone over all {found['queries']} judged queries (unretrieved ones count 0).",
        "",
        "| system | table | pytrec_eval | same to 4 decimals |",
        "| --- | --- | --- | --- |",
        *(
            f"| {name} | {r['table']:.4f} | {r['pytrec_eval']:.4f} | {'yes' if r['agrees'] else 'NO'} |"
            for name, r in found["systems"].items()
        ),
    ]
    (args.table / "verification.json").write_text(json.dumps(found, indent=2) + "\n")
    (args.table / "verification.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["agrees"] for r in found["systems"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
