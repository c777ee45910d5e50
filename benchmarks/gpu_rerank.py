"""Rerank a first-stage run's top ``--depth`` with the Python API, document texts from a BEIR corpus, and write
the same files as ``bench_table.py``'s journaled ``rerank --no-fusion`` (``WORK/NAME.trec`` and
``WORK/NAME.timing.json``). No Lucene index and no Java are needed, so it runs on a bare GPU machine; copy the
files into ``bench_table.py``'s ``--work`` folder and it reuses them (the timing records the device).

    python benchmarks/gpu_rerank.py --beir DIR --run WORK/bm25.trec --system prompt=CKPT [--system ...] \
        --work OUT [--depth 20 --max-length 256 --batch-size 20 --dtype bfloat16 --device cuda]

The texts are "title\\ntext" of each record, the string the index stores (records with lone surrogates, which
the index cleans, are the only difference). ``benchmarks/experiments/gpu_table.sh`` ships what a GPU machine needs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pyserini_qpeft import Candidate, QPEFTReranker
from pyserini_qpeft.runs.beir import load_queries
from pyserini_qpeft.runs.trec import read_run, write_run

from bench_speed import corpus_texts
from benchlib import resolved_dtype, write_timing


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True, help="BEIR folder: queries.jsonl and the corpus (top docs suffice)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--run", required=True, help="first-stage TREC run (every query in it is reranked)")
    parser.add_argument("--system", action="append", required=True, metavar="NAME=MODEL")
    parser.add_argument("--work", type=Path, required=True, help="where NAME.trec and NAME.timing.json go")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="cuda")
    return parser.parse_args(argv)


def top_texts(beir: str, run: dict, depth: int) -> dict[str, str]:
    """docid -> text of every document in the top ``depth`` of some query of ``run``, from the BEIR corpus."""
    return corpus_texts(beir, {docid for hits in run.values() for docid, _ in hits[:depth]})


def rerank_with_texts(reranker: QPEFTReranker, run: dict, queries: dict, texts: dict, depth: int) -> list:
    """[(qid, [(docid, LM score)])]: each query's top ``depth`` reranked by the LM alone, the rest below in order
    (``rerank``'s layout), document texts from ``texts`` (docid -> text)."""
    results = []
    for qid, hits in run.items():
        candidates = [
            Candidate(docid, score, text=texts.get(docid) if rank < depth else None)
            for rank, (docid, score) in enumerate(hits)
        ]
        reranked = reranker.rerank(queries[qid], candidates, k=depth, fusion_weight=None)
        results.append((qid, [(c.docid, c.score) for c in reranked]))
    return results


def fingerprint(reranker: QPEFTReranker, query: str) -> dict:
    """What decides the scores besides the weights: the transformers version and how the prompt is tokenised
    (runs made with different conversions of the GGUF model can differ by a per-query offset)."""
    import transformers

    from pyserini_qpeft.model.scoring import PairEncoder

    encoder = PairEncoder(reranker.model.tokenizer, max_length=64)
    return {
        "transformers": transformers.__version__,
        "bos": encoder.bos,
        "eos": encoder.eos,
        "passage_prefix": encoder.passage_prefix,
        "question_prefix": encoder.question_prefix,
        "query": encoder._ids(query),
    }


def rerank_system(args, name: str, model: str, run: dict, queries: dict, texts: dict) -> None:
    """One system's run (LM scores alone) and its timing, written into ``args.work``."""
    import torch

    reranker = QPEFTReranker.from_pretrained(
        model, device=args.device, dtype=args.dtype, max_length=args.max_length, batch_size=args.batch_size
    )
    started = time.time()
    results = rerank_with_texts(reranker, run, queries, texts, args.depth)
    seconds = time.time() - started
    path = args.work / f"{name}.trec"
    write_run(path, results, "qpeft")
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    dtype = resolved_dtype(args.dtype, args.device)
    write_timing(path, seconds, device=device, dtype=dtype, fingerprint=fingerprint(reranker, queries[next(iter(run))]))
    pairs = sum(min(len(hits), args.depth) for hits in run.values())
    print(f"{name}: {pairs} pairs in {seconds:.1f} s ({pairs / seconds:.1f} pairs/s) on {device}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    run = read_run(args.run)
    queries = load_queries(args.beir, args.split)
    texts = top_texts(args.beir, run, args.depth)
    for spec in args.system:
        name, _, model = spec.partition("=")
        rerank_system(args, name, model, run, queries, texts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
