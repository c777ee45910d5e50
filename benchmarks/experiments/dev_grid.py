"""Rerank depth, document length and BM25 fusion weight for each LM, chosen on dev queries only.

For each collection, the dev queries are exactly those the adaptation runs choose on
(``benchmarks/experiments/adaptation.sh``): scifact, 80 of its first 400 train queries held back with seed 42;
nfcorpus, the first 80 queries of its dev split. For each (LM, max_length, collection) the zero-shot LM scores
BM25's top 100 once (a journaled, resumable ``rerank_run_to_file`` without fusion); a pair's zero-shot score does
not depend on the depth, so depths 20 and 50 are that run cut to BM25's top 20 and 50. Each cell reports
nDCG@10 of the LM alone and fused with BM25 at the weight (0, 0.05, ..., 1) best on these dev queries, and the
seconds per query: measured at depth 100, scaled by depth/100 for the cut depths (pairs per query).

    .venv/bin/python benchmarks/experiments/dev_grid.py    # every cell; results in benchmarks/results/dev_grid
    # one cell at a time, the rest later (each finished rerank is reused; an interrupted one resumes):
    .venv/bin/python benchmarks/experiments/dev_grid.py --lm gemma --max-length 256 --collection nfcorpus ...
    .venv/bin/python benchmarks/experiments/dev_grid.py --table-only ...   # only the table, from finished cells
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
from pyserini_qpeft.lucene.index import build_index, open_searcher
from pyserini_qpeft.model.loading import dtype_name
from pyserini_qpeft.runs.evaluation import evaluate
from pyserini_qpeft.runs.fusion import interpolate, pick_weight
from pyserini_qpeft.runs.rerank import rerank_run_to_file
from pyserini_qpeft.runs.trec import read_run, write_run
from pyserini_qpeft.training.queries import QuerySelection, choose_training_queries

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
LMS = {"smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct", "gemma": "google/gemma-3-270m"}
# adaptation.sh's query selection of each collection (its SF_DATA and NF_DATA), which fixes the dev queries.
SELECTIONS = {
    "scifact": dict(split="train", max_queries=400, dev_fraction=0.2, max_dev_queries=80, seed=42),
    "nfcorpus": dict(split="train", max_queries=320, dev_split="dev", max_dev_queries=80, seed=42),
}
DEPTHS = (20, 50, 100)
SCORED_DEPTH = max(DEPTHS)
MAX_LENGTHS = (256, 512)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("benchmarks/results/dev_grid/work"),
        help="BM25 runs, LM runs and their journals (committed, so a fresh clone resumes an unfinished cell)",
    )
    parser.add_argument("--indexes", type=Path, default=Path("runs/dev-grid"), help="Lucene indexes (rebuilt)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dev_grid"))
    parser.add_argument("--data", type=Path, default=SHARED, help="folder holding scifact/ and nfcorpus/")
    parser.add_argument("--lm", action="append", choices=sorted(LMS), help="default: all")
    parser.add_argument("--max-length", type=int, action="append", choices=MAX_LENGTHS, help="default: all")
    parser.add_argument("--collection", action="append", choices=sorted(SELECTIONS), help="default: all")
    # float32 everywhere: a cell resumed on another machine (auto may pick bfloat16 there) keeps its journal.
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--table-only", action="store_true", help="draw the table from the finished cells only")
    return parser.parse_args(argv)


def dev_queries(data: Path, collection: str, work: Path, indexes: Path):
    """(searcher, dev qid -> text, qrels, BM25 top-100 run of the dev queries), the run cached under ``work``."""
    beir = data / collection
    index = indexes / f"{collection}-index"
    if not index.exists():  # build_index moves a finished index into place
        build_index(beir, index)
    searcher = open_searcher(index)
    selection = QuerySelection(beir=str(beir), **SELECTIONS[collection])
    _, dev, qrels = choose_training_queries(selection, searcher)
    queries = {q.qid: q.text for q in dev}
    qrels = {qid: qrels[qid] for qid in queries}
    bm25 = work / collection / "bm25-dev-top100.trec"
    if not bm25.is_file():
        write_run(bm25, hits_to_run(bm25_search(searcher, queries, hits=SCORED_DEPTH)), "bm25")
    return searcher, queries, qrels, read_run(bm25)


def score_cell(args, lm: str, max_length: int, collection: str, searcher, queries, bm25) -> Path:
    """The zero-shot LM's scores of BM25's top 100 (no fusion), journaled and resumed; its timing beside it."""
    output = args.work / collection / f"{lm}-ml{max_length}-top{SCORED_DEPTH}.trec"
    timing = output.with_suffix(".timing.json")
    if output.is_file() and timing.is_file():
        return output
    reranker = QPEFTReranker.from_pretrained(LMS[lm], dtype=args.dtype, max_length=max_length)
    calls = json.loads(timing.read_text())["calls"] if timing.is_file() else []
    started = time.perf_counter()
    done = rerank_run_to_file(
        reranker, bm25, queries, searcher, output, depth=SCORED_DEPTH, fusion_weight=None, resume=True, progress=True
    )
    calls.append({"seconds": round(time.perf_counter() - started, 1), "topics": done})
    record = {
        "lm": LMS[lm],
        "dtype": dtype_name(reranker.model.lm.dtype),
        "max_length": max_length,
        "calls": calls,
        "seconds_per_query": round(sum(c["seconds"] for c in calls) / max(1, sum(c["topics"] for c in calls)), 2),
    }
    timing.write_text(json.dumps(record, indent=2) + "\n")
    return output


def cut(run, depth: int):
    return {qid: hits[:depth] for qid, hits in run.items()}


def cell_rows(lm: str, max_length: int, collection: str, scored: Path, bm25, qrels) -> list[dict]:
    """One row per depth: nDCG@10 alone and fused at the dev-best weight, and seconds per query."""
    timing = json.loads(scored.with_suffix(".timing.json").read_text())
    lm_run = read_run(scored)
    rows = []
    for depth in DEPTHS:
        first = cut(bm25, depth)
        alone = evaluate(interpolate(first, lm_run, 0.0, depth), qrels, ["nDCG@10"])["nDCG@10"]
        weight, curve = pick_weight(first, lm_run, qrels, depth)
        rows.append(
            {
                "collection": collection,
                "lm": lm,
                "max_length": max_length,
                "depth": depth,
                "dev_queries": len(lm_run),
                "ndcg@10_alone": round(alone, 4),
                "fusion_weight": weight,
                "ndcg@10_fused": round(curve[weight], 4),
                "seconds_per_query": round(timing["seconds_per_query"] * depth / SCORED_DEPTH, 2),
                "dtype": timing["dtype"],
                "curve": curve,
            }
        )
    return rows


def markdown(rows: list[dict], bm25_ndcg: dict[str, float]) -> str:
    lines = [
        "# Dev grid: depth, max_length and fusion weight per LM (zero-shot, dev queries only)",
        "",
        "Written by `benchmarks/experiments/dev_grid.py`. Dev queries: scifact 80 (held back from its first 400 train",
        "queries, seed 42), nfcorpus 80 (the first of its dev split), as `benchmarks/experiments/adaptation.sh`.",
        "Fused: `w * minmax(BM25) + (1 - w) * minmax(LM)` at the dev-best w. Seconds per query: measured at depth 100,",
        "scaled by depth/100 for the cut depths. ** marks each collection's best fused cell per LM.",
        "",
    ]
    for collection in sorted({r["collection"] for r in rows}):
        lines += [f"## {collection} (BM25 nDCG@10 {bm25_ndcg[collection]:.4f})", ""]
        lines += ["| LM | max_length | depth | alone | fused (w) | s/query | dtype |", "|---|---|---|---|---|---|---|"]
        mine = [r for r in rows if r["collection"] == collection]
        lms = {r["lm"] for r in mine}
        best = {lm: max((r for r in mine if r["lm"] == lm), key=lambda r: r["ndcg@10_fused"]) for lm in lms}
        for r in mine:
            mark = "**" if best.get(r["lm"]) is r else ""
            lines.append(
                f"| {r['lm']} | {r['max_length']} | {r['depth']} | {r['ndcg@10_alone']:.4f} | "
                f"{mark}{r['ndcg@10_fused']:.4f} ({r['fusion_weight']:.2f}){mark} | {r['seconds_per_query']:.1f} | "
                f"{r['dtype']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lms = args.lm or list(LMS)
    lengths = args.max_length or list(MAX_LENGTHS)
    collections = args.collection or ["nfcorpus", "scifact"]
    rows, bm25_ndcg = [], {}
    for collection in collections:
        searcher, queries, qrels, bm25 = dev_queries(args.data, collection, args.work, args.indexes)
        bm25_ndcg[collection] = evaluate(cut(bm25, 10), qrels, ["nDCG@10"])["nDCG@10"]
        for max_length in lengths:
            for lm in lms:
                scored = args.work / collection / f"{lm}-ml{max_length}-top{SCORED_DEPTH}.trec"
                if not args.table_only:
                    scored = score_cell(args, lm, max_length, collection, searcher, queries, bm25)
                if not scored.with_suffix(".timing.json").is_file():
                    continue
                rows += cell_rows(lm, max_length, collection, scored, bm25, qrels)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"bm25_ndcg@10": bm25_ndcg, "rows": rows}, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(rows, bm25_ndcg) + "\n")
    print(markdown(rows, bm25_ndcg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
