"""Rerank BM25's top DEPTH of the first QUERIES scifact test queries with the Python API, sharing the queries
over the torchrun world (``pyserini_qpeft.runs.distributed``), and write the run on rank 0. Texts come from the
BEIR corpus, so no Lucene index (nor Java) is needed: it runs on a bare GPU machine.

Run once plainly and once under ``torchrun --nproc-per-node G``; the two run files must be byte-identical.

Usage: python benchmarks/gpu_torchrun_rerank.py MODEL BEIR_DIR RUN OUTPUT [QUERIES] [DEPTH] [DEVICE]
(DEVICE: cuda, the default, or cpu for a dry run)
"""

from __future__ import annotations

import sys
import time

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.runs import distributed
from pyserini_qpeft.runs.beir import load_queries
from pyserini_qpeft.runs.trec import read_run, write_run

from gpu_rerank import rerank_with_texts, top_texts


def main(argv: list[str]) -> int:
    model, beir, run_file, output = argv[:4]
    queries_wanted = int(argv[4]) if len(argv) > 4 else 20
    depth = int(argv[5]) if len(argv) > 5 else 20
    device = argv[6] if len(argv) > 6 else "cuda"
    world = distributed.setup(device)
    run = dict(list(read_run(run_file).items())[:queries_wanted])
    run = {qid: hits[:depth] for qid, hits in run.items()}
    queries = load_queries(beir, "test")
    texts = top_texts(beir, run, depth)
    device = distributed.rank_device(device)
    reranker = QPEFTReranker.from_pretrained(model, device=device, dtype="bfloat16", max_length=512)
    mine = distributed.share(run, cost=lambda qid: len(run[qid]))
    started = time.perf_counter()
    part = dict(rerank_with_texts(reranker, {qid: run[qid] for qid in mine}, queries, texts, depth))
    seconds = time.perf_counter() - started
    merged = distributed.gather(part, order=list(run))
    pairs = sum(len(run[qid]) for qid in mine)
    print(f"{world} on {device}: {pairs} pairs in {seconds:.2f} s ({pairs / seconds:.1f} pairs/s)", flush=True)
    if world.is_main:
        write_run(output, merged, "qpeft")
    distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
