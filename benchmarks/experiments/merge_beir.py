"""One BEIR folder and first-stage run from the training and dev queries of several collections, for one training run.

Each ``--part NAME BEIR INDEX FLAGS`` picks its training and dev queries exactly as ``pyserini-qpeft train`` would
with ``FLAGS`` (``train``'s flags that choose them: ``--split``, ``--dev-split``, ``--max-queries``, ``--dev-fraction``,
``--max-dev-queries``, ``--max-train-queries``, ``--negative-depth``, ``--seed``, ``--threads``), and its
BM25 hits (``--negative-depth`` deep) come from its own index, so a query's negatives and dev candidates are those a
run on its own collection gets. Ids are prefixed ``NAME:``. The output folder holds ``corpus.jsonl`` (every part's
corpus), ``queries.jsonl``, ``qrels/train.tsv``, ``qrels/dev.tsv`` and ``first-stage.trec``; train on it with
``train --beir OUT --first-stage-run OUT/first-stage.trec --split train --dev-split dev``.

    python benchmarks/experiments/merge_beir.py --out runs/adaptation/mixed \\
        --part scifact ../shared/data/scifact runs/adaptation/scifact-index "--max-queries 400 --dev-fraction 0.2 \\
            --max-dev-queries 80" \\
        --part nfcorpus ../shared/data/nfcorpus runs/adaptation/nfcorpus-index "--max-queries 320 --max-dev-queries 80"
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
from pyserini_qpeft.lucene.index import open_searcher
from pyserini_qpeft.runs.beir import iter_corpus
from pyserini_qpeft.runs.trec import write_run
from pyserini_qpeft.training.queries import QuerySelection, choose_training_queries

from train_split import selection_parser


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", nargs=4, action="append", required=True, metavar=("NAME", "BEIR", "INDEX", "FLAGS"))
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def select(beir: str, index: str, flags: str):
    """(train, dev, qrels, BM25 run of both) as ``train --beir BEIR --index INDEX FLAGS`` chooses them."""
    selection = QuerySelection.from_args(selection_parser().parse_args(shlex.split(flags)), beir=beir)
    searcher = open_searcher(index)
    train, dev, qrels = choose_training_queries(selection, searcher)
    queries = {q.qid: q.text for q in [*train, *dev]}
    return train, dev, qrels, hits_to_run(bm25_search(searcher, queries, hits=selection.negative_depth))


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; choose a new folder")
    corpus, queries, run, qrels_rows, counts = [], {}, {}, {"train": [], "dev": []}, {}
    for name, beir, index, flags in args.part:
        train, dev, qrels, hits = select(beir, index, flags)
        counts[name] = {"train": len(train), "dev": len(dev), "flags": flags}
        if shared := {q.text for q in [*train, *dev]} & set(queries.values()):
            raise SystemExit(f"part {name} shares query texts with an earlier part (e.g. {sorted(shared)[0][:60]!r})")
        for split, chosen in (("train", train), ("dev", dev)):
            for query in chosen:
                queries[f"{name}:{query.qid}"] = query.text
                qrels_rows[split] += [(f"{name}:{query.qid}", f"{name}:{d}", r) for d, r in qrels[query.qid].items()]
        run.update({f"{name}:{qid}": [(f"{name}:{d}", s) for d, s in found] for qid, found in hits.items()})
        corpus += [{**record, "_id": f"{name}:{record['_id']}"} for record in iter_corpus(beir)]
    (args.out / "qrels").mkdir(parents=True)
    with atomic_write(args.out / "corpus.jsonl") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus)
    with atomic_write(args.out / "queries.jsonl") as handle:
        handle.writelines(json.dumps({"_id": q, "text": t}, ensure_ascii=False) + "\n" for q, t in queries.items())
    for split, rows in qrels_rows.items():
        with atomic_write(args.out / "qrels" / f"{split}.tsv") as handle:
            handle.write("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{r}\n" for q, d, r in rows))
    write_run(args.out / "first-stage.trec", run, "bm25")
    with atomic_write(args.out / "parts.json") as handle:
        handle.write(json.dumps(counts, indent=2) + "\n")
    logging.info("%s: %s", args.out, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
