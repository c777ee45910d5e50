"""Quality table on a BEIR test split: BM25 vs zero-shot, prompt, Q-PEFT-R and Q-PEFT-A reranking.

Reranks BM25's top ``--depth`` for the first ``--max-queries`` test queries with each system, keeps
every run file, and reports nDCG@10 (and R@100, MRR@10) with a two-sided paired t-test against BM25
per system. A run file that already exists is reused, so an interrupted benchmark continues.

    python benchmarks/bench_quality.py --beir ../shared/data/scifact --index runs/scifact-index \
        --checkpoint prompt=runs/ckpt-prompt --checkpoint r=runs/ckpt-r --checkpoint a=runs/ckpt-a
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from datetime import date
from pathlib import Path

from tqdm.auto import tqdm

from pyserini_qpeft.beir_data import load_qrels, load_queries, qrels_path
from pyserini_qpeft.evaluation import evaluate, per_query
from pyserini_qpeft.model_loading import DEFAULT_MODEL
from pyserini_qpeft.runs import read_run, write_run

METRICS = ["nDCG@10", "R@100", "MRR@10"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, default=100)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"])
    parser.add_argument("--zeroshot-model", default=DEFAULT_MODEL)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--out", default="benchmarks/results/scifact_quality")
    return parser.parse_args(argv)


def paired_t_test(a, b):
    from scipy import stats

    result = stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from pyserini_qpeft.first_stage import bm25_search, hits_to_run
    from pyserini_qpeft.lucene_index import open_searcher
    from pyserini_qpeft.reranker import QPEFTReranker
    from pyserini_qpeft.reranking import rerank_run

    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    queries = dict(list(load_queries(args.beir, args.split).items())[: args.max_queries])
    qrels = load_qrels(qrels_path(args.beir, args.split))
    searcher = open_searcher(args.index)
    bm25_path = out / "runs" / "bm25.trec"
    if not bm25_path.exists():
        write_run(bm25_path, hits_to_run(bm25_search(searcher, queries, hits=args.hits)), "bm25")
    bm25 = read_run(bm25_path)
    systems = {"bm25": {"run": str(bm25_path), "seconds": None}}
    sources = [("zeroshot", args.zeroshot_model)] + [tuple(c.split("=", 1)) for c in args.checkpoint]
    for name, source in sources:
        path = out / "runs" / f"{name}.trec"
        seconds = None
        if not path.exists():
            reranker = QPEFTReranker.from_pretrained(source, device="cpu", max_length=args.max_length,
                                                     batch_size=args.batch_size, dtype=args.dtype)
            started = time.time()
            with tqdm(total=len(bm25), desc=name, unit="query") as bar:
                reranked = dict(rerank_run(reranker, bm25, queries, searcher, depth=args.depth,
                                           on_query=lambda qid, n: bar.update(1)))
            seconds = time.time() - started
            write_run(path, reranked, name)
            del reranker
        systems[name] = {"run": str(path), "source": source, "seconds": seconds}
    table = {}
    base = per_query(bm25, qrels, ["nDCG@10"])["nDCG@10"]
    for name, info in systems.items():
        run = read_run(info["run"])
        means = evaluate(run, qrels, METRICS)
        ndcg = per_query(run, qrels, ["nDCG@10"])["nDCG@10"]
        qids = sorted(base)
        t, p = paired_t_test([ndcg[q] for q in qids], [base[q] for q in qids]) if name != "bm25" else (None, None)
        table[name] = {**means, "t_vs_bm25": t, "p_vs_bm25": p, **info}
    result = {
        "date": date.today().isoformat(),
        "command": " ".join([sys.executable.split("/")[-1], *sys.argv]),
        "machine": f"{platform.machine()} {platform.processor() or ''} {platform.system()}".strip(),
        "queries": len(queries),
        "depth": args.depth,
        "max_length": args.max_length,
        "dtype": args.dtype or "float32",
        "systems": table,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Quality on {Path(args.beir).name} {args.split} (first {len(queries)} queries, top {args.depth} reranked)",
             "", f"Command: `{result['command']}`  ", f"Date: {result['date']}; max_length {args.max_length}", "",
             "| system | nDCG@10 | R@100 | MRR@10 | p (paired t vs BM25) |", "| --- | --- | --- | --- | --- |"]
    for name, row in table.items():
        p = "" if row["p_vs_bm25"] is None else f"{row['p_vs_bm25']:.3g}"
        lines.append(f"| {name} | {row['nDCG@10']:.4f} | {row['R@100']:.4f} | {row['MRR@10']:.4f} | {p} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
