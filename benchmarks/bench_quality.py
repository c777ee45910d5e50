"""Quality table on a BEIR test split: BM25 vs zero-shot, prompt, Q-PEFT-R and Q-PEFT-A reranking.

Reranks BM25's top ``--depth`` for the first ``--max-queries`` test queries with each system, keeps
every run file, and reports nDCG@10 (and R@100, MRR@10) with a two-sided paired t-test against BM25.
It also fuses BM25 and each reranker (min-max normalised scores, ``alpha * bm25 + (1 - alpha) * reranker``)
with ``alpha`` picked on a dev split: ``--dev-queries`` queries of ``--dev-split`` starting at
``--dev-offset`` (scifact has no dev qrels, so by default train queries that the checkpoints never saw).
A run file that already exists is reused, so an interrupted benchmark continues.

    python benchmarks/bench_quality.py --beir ../shared/data/scifact --index runs/scifact/index \
        --checkpoint prompt=DIR --checkpoint r=DIR --checkpoint a=DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from pyserini_qpeft.model.config import DEFAULT_MODEL
from pyserini_qpeft.runs.beir import load_qrels, load_queries, qrels_path
from pyserini_qpeft.runs.evaluation import evaluate, per_query
from pyserini_qpeft.runs.trec import read_run, write_run

from benchlib import command_line, machine_info, paired_t_test, resolved_dtype, write_results

METRICS = ["nDCG@10", "R@100", "MRR@10"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, default=100)
    parser.add_argument("--dev-split", default="train")
    parser.add_argument("--dev-offset", type=int, default=64, help="skip the queries the checkpoints trained on")
    parser.add_argument("--dev-queries", type=int, default=50, help="0 skips the interpolation")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--zeroshot-model", default=DEFAULT_MODEL)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--out", default="benchmarks/results/scifact_quality")
    return parser.parse_args(argv)


def run_systems(
    args, sources: list[tuple[str, str]], queries: dict[str, str], searcher, runs_dir: Path, prefix: str
) -> dict[str, dict]:
    """BM25 and every reranker's run over ``queries`` (``runs_dir/<prefix><name>.trec``, reused if present)."""
    from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
    from pyserini_qpeft.reranker import QPEFTReranker
    from pyserini_qpeft.runs.rerank import rerank_run

    bm25_path = runs_dir / f"{prefix}bm25.trec"
    if not bm25_path.exists():
        write_run(bm25_path, hits_to_run(bm25_search(searcher, queries, hits=args.hits)), "bm25")
    bm25 = read_run(bm25_path)
    systems = {"bm25": {"run": str(bm25_path), "seconds": None}}
    for name, source in sources:
        path = runs_dir / f"{prefix}{name}.trec"
        seconds = None
        if not path.exists():
            reranker = QPEFTReranker.from_pretrained(
                source, device="cpu", max_length=args.max_length, batch_size=args.batch_size, dtype=args.dtype
            )
            started = time.time()
            with tqdm(total=len(bm25), desc=f"{prefix}{name}", unit="query") as bar:
                reranked = dict(
                    rerank_run(
                        reranker, bm25, queries, searcher, depth=args.depth, on_query=lambda qid, n: bar.update(1)
                    )
                )
            seconds = time.time() - started
            write_run(path, reranked, name)
            del reranker
        systems[name] = {"run": str(path), "source": source, "seconds": seconds}
    return systems


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from pyserini_qpeft.lucene.index import open_searcher
    from pyserini_qpeft.runs.fusion import interpolate, pick_weight

    out = Path(args.out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    sources = [("zeroshot", args.zeroshot_model)] + [tuple(c.split("=", 1)) for c in args.checkpoint]
    searcher = open_searcher(args.index)
    queries = dict(list(load_queries(args.beir, args.split).items())[: args.max_queries])
    qrels = load_qrels(qrels_path(args.beir, args.split))
    systems = run_systems(args, sources, queries, searcher, runs_dir, "")
    dev = {}
    if args.dev_queries > 0:
        dev_all = list(load_queries(args.beir, args.dev_split).items())
        dev_queries = dict(dev_all[args.dev_offset : args.dev_offset + args.dev_queries])
        dev_systems = run_systems(args, sources, dev_queries, searcher, runs_dir, "dev-")
        dev = {"split": args.dev_split, "offset": args.dev_offset, "queries": len(dev_queries), "systems": dev_systems}
        dev_qrels = load_qrels(qrels_path(args.beir, args.dev_split))
        dev_bm25 = read_run(dev_systems["bm25"]["run"])

    bm25 = read_run(systems["bm25"]["run"])
    base = per_query(bm25, qrels, ["nDCG@10"])["nDCG@10"]
    qids = sorted(base)

    def versus_bm25(run) -> tuple[float, float]:
        ndcg = per_query(run, qrels, ["nDCG@10"])["nDCG@10"]
        return paired_t_test([ndcg[q] for q in qids], [base[q] for q in qids])

    table = {}
    for name, info in systems.items():
        run = read_run(info["run"])
        row = {**evaluate(run, qrels, METRICS), **info, "t_vs_bm25": None, "p_vs_bm25": None}
        if name != "bm25":
            row["t_vs_bm25"], row["p_vs_bm25"] = versus_bm25(run)
            if dev:
                alpha, curve = pick_weight(dev_bm25, read_run(dev_systems[name]["run"]), dev_qrels, args.depth)
                fused = interpolate(bm25, run, alpha, args.depth)
                row["interpolation"] = {
                    "alpha_bm25": alpha,
                    "dev_nDCG@10": curve[alpha],
                    "dev_curve": curve,
                    **evaluate(fused, qrels, METRICS),
                    "p_vs_bm25": versus_bm25(fused)[1],
                }
        table[name] = row

    result = {
        "command": command_line(),
        **machine_info(),
        "split": args.split,
        "queries": len(queries),
        "depth": args.depth,
        "max_length": args.max_length,
        "dtype": resolved_dtype(args.dtype),
        "systems": table,
        "dev": dev,
    }
    lines = [
        f"# Quality on {Path(args.beir).name} {args.split} (first {len(queries)} queries, top {args.depth} reranked)",
        "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}; {result['machine']}; max_length {args.max_length}, {result['dtype']}",
        "",
        "| system | nDCG@10 | R@100 | MRR@10 | p (paired t vs BM25) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in table.items():
        p = "" if row["p_vs_bm25"] is None else f"{row['p_vs_bm25']:.3g}"
        lines.append(f"| {name} | {row['nDCG@10']:.4f} | {row['R@100']:.4f} | {row['MRR@10']:.4f} | {p} |")
    if dev:
        lines += [
            "",
            f"## BM25 + reranker interpolation (weight picked on {dev['queries']} {args.dev_split} queries "
            f"from #{args.dev_offset + 1}, which training never used)",
            "",
            "Per query, the top-depth scores of both runs are min-max normalised; "
            "fused = alpha * BM25 + (1 - alpha) * reranker.",
            "",
            "| system | alpha (BM25 weight) | dev nDCG@10 | test nDCG@10 | test MRR@10 | p vs BM25 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in table.items():
            fused = row.get("interpolation")
            if fused:
                lines.append(
                    f"| bm25+{name} | {fused['alpha_bm25']:.2f} | {fused['dev_nDCG@10']:.4f} | "
                    f"{fused['nDCG@10']:.4f} | {fused['MRR@10']:.4f} | {fused['p_vs_bm25']:.3g} |"
                )
    write_results(out, result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
