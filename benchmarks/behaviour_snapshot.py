"""A behaviour snapshot for refactors: exact scores of fixed scifact pairs and reranked runs, to diff before/after.

Scores every committed checkpoint (presets and benchmark checkpoints) on the BM25 top 4 of the first 5 scifact test
queries in float32 on the CPU, written as exact float hex, and reranks the first 20 test queries' BM25 top 5 with
each preset through the CLI (texts from the BEIR corpus, no Java). Two snapshots of the same code are identical;
compare two with ``diff -r``.

    python benchmarks/behaviour_snapshot.py --out runs/snapshot-before
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = [
    "zeroshot-bm25",
    "scifact-r",
    *sorted(str(p) for p in (ROOT / "benchmarks/results/scifact_table/checkpoints").iterdir()),
    *sorted(str(p) for p in (ROOT / "benchmarks/results/scifact_quality/checkpoints").iterdir()),
]
PRESETS = ["zeroshot-bm25", "scifact-r"]
BM25 = ROOT / "benchmarks/results/scifact_table/runs/bm25.trec.gz"


def bm25_top(depth: int) -> dict[str, list[str]]:
    top: dict[str, list[str]] = {}
    with gzip.open(BM25, "rt", encoding="utf-8") as handle:
        for line in handle:
            qid, _, docid, rank, *_ = line.split()
            if int(rank) <= depth:
                top.setdefault(qid, []).append(docid)
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beir", default=str(ROOT.parent / "shared/data/scifact"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    beir = Path(args.beir)
    corpus = {}
    with open(beir / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            corpus[str(record["_id"])] = (record.get("title", "") + " " + record.get("text", "")).strip()
    queries = {}
    with open(beir / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            queries[str(record["_id"])] = record["text"]
    top = bm25_top(4)
    qids = list(top)[:5]

    from pyserini_qpeft import QPEFTReranker

    scores = {}
    for name in CHECKPOINTS:
        reranker = QPEFTReranker.from_pretrained(name, device="cpu", dtype="float32")
        scores[Path(name).name if "/" in name else name] = {
            qid: [float(s).hex() for s in reranker.score(queries[qid], [corpus[d] for d in top[qid]])] for qid in qids
        }
    (out / "scores.json").write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    run = out / "bm25.trec"
    run.write_bytes(gzip.decompress(BM25.read_bytes()))
    env = dict(os.environ)
    for preset in PRESETS:
        subprocess.run(
            [sys.executable, "-m", "pyserini_qpeft", "-q", "rerank", "--run", str(run), "--beir", str(beir),
             "--split", "test", "--max-queries", "20", "--depth", "5", "--model", preset, "--dtype", "float32",
             "--device", "cpu", "--output", str(out / f"{preset}.trec")],
            check=True, env=env,
        )  # fmt: skip


if __name__ == "__main__":
    main()
