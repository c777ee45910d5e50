"""Q-PEFT-R hint selection time per query: FAISS IndexFlatIP vs torch matmul, against the candidate count.

Uses the default model's embeddings (the trainable table starts as their copy), scifact test queries
and their BM25 candidates. Reports the median over queries and repeats, after a warm-up.

    python benchmarks/bench_hint_selection.py --beir ../shared/data/scifact --index runs/scifact-index
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--candidates", default="20,100,1000")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/hint_selection")
    args = parser.parse_args(argv)

    from pyserini_qpeft.beir_data import load_queries
    from pyserini_qpeft.config import QPEFTConfig
    from pyserini_qpeft.first_stage import bm25_search
    from pyserini_qpeft.hint_selection import select_faiss, select_torch
    from pyserini_qpeft.lucene_index import document_text, open_searcher
    from pyserini_qpeft.model_loading import DEFAULT_MODEL, load_causal_lm
    from pyserini_qpeft.qpeft_model import QPEFTModel

    counts = [int(c) for c in args.candidates.split(",")]
    lm, tokenizer = load_causal_lm(DEFAULT_MODEL, device="cpu")
    model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant="r", k=args.k, max_length=args.max_length))
    qd = model.qd
    searcher = open_searcher(args.index)
    queries = dict(list(load_queries(args.beir, "test").items())[: args.queries])
    hits = bm25_search(searcher, queries, hits=max(counts))
    rows = []
    for count in counts:
        timings = {"faiss": [], "torch": []}
        for qid, text in queries.items():
            docs = [document_text(searcher, h.docid) for h in hits[qid][:count]]
            q_ids = model.encoder.query_ids(text)
            doc_ids = [model.encoder.truncate(q_ids, d, model.config.num_virtual_tokens, args.k)
                       for d in model.encoder.document_ids(docs)]
            with torch.no_grad():
                q_vecs = torch.nn.functional.normalize(qd.query_vectors(q_ids).float(), dim=-1)
            for name, fn in (("faiss", select_faiss), ("torch", select_torch)):
                fn(q_vecs, q_ids, doc_ids, qd.normalized_frozen, qd.allowed, args.k)  # warm-up
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    chosen = fn(q_vecs, q_ids, doc_ids, qd.normalized_frozen, qd.allowed, args.k)
                    timings[name].append(time.perf_counter() - started)
            assert select_faiss(q_vecs, q_ids, doc_ids, qd.normalized_frozen, qd.allowed, args.k) == \
                select_torch(q_vecs, q_ids, doc_ids, qd.normalized_frozen, qd.allowed, args.k)
        distinct = len({t for d in doc_ids for t in d})
        rows.append({"candidates": count, "distinct_tokens_last_query": distinct,
                     "faiss_ms_median": 1000 * statistics.median(timings["faiss"]),
                     "torch_ms_median": 1000 * statistics.median(timings["torch"])})
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"date": date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
              "machine": f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} torch threads",
              "torch": torch.__version__, "k": args.k, "queries": len(queries), "rows": rows}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Q-PEFT-R hint selection time per query (median)", "", f"Command: `{result['command']}`  ",
             f"Date: {result['date']}; {result['machine']}", "",
             "| candidates | FAISS ms | torch ms |", "| --- | --- | --- |"]
    lines += [f"| {r['candidates']} | {r['faiss_ms_median']:.1f} | {r['torch_ms_median']:.1f} |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
