"""What the hints do: each Q-PEFT-R/A checkpoint reranks the same BM25 candidates with its hints as trained,
with the hints switched off at inference (soft prompt only), and (Q-PEFT-R) with other hint counts k; nDCG@10
per setting with a paired t-test against the trained setting, plus the hint tokens chosen for a few queries.

    .venv/bin/python benchmarks/experiments/hint_ablation.py --beir ../shared/data/scifact \
        --index runs/scifact-scale/index --run runs/scifact-scale/table-scifact/bm25.trec \
        --checkpoint r=CKPT_R --checkpoint a=CKPT_A

``--trained-run r=runs/scifact-scale/table-scifact/r.trec`` takes the hints-as-trained rows from the table's run of
the same candidates instead of reranking them again.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pyserini_qpeft.runs.evaluation import per_query
from pyserini_qpeft.runs.trec import read_run, write_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the reusable benchmark modules
from bench_table import mean_ci, paired, topics_and_qrels  # noqa: E402
from benchlib import command_line, machine_info, read_timing, write_results, write_timing  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True)
    parser.add_argument("--index", help="Lucene index for the texts (default: the BEIR corpus, no Java needed)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available, else cpu)")
    parser.add_argument("--run", required=True, help="first-stage run (e.g. the table's bm25.trec)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=DIR", required=True)
    parser.add_argument(
        "--trained-run",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="a run of checkpoint NAME with its hints as trained over the same candidates (e.g. the table's); "
        "its rows for the ablation's queries serve that setting instead of a second rerank",
    )
    parser.add_argument("--ks", default="5,20", help="other hint counts tried for Q-PEFT-R")
    parser.add_argument("--max-queries", type=int, default=100)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--examples", type=int, default=3, help="queries whose chosen hint tokens are shown")
    parser.add_argument("--work", type=Path, default=Path("runs/hint-ablation"), help="run files (reused)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hint_ablation"))
    return parser.parse_args(argv)


def settings(reranker, ks: list[int]):
    """(name, function that sets the model up) for each setting of one checkpoint; hints as trained first."""
    model = reranker.model
    trained_hints, trained_k = model.hint_module, getattr(model.hint_module, "num_hints", None)

    def as_trained():
        model.hint_module = trained_hints
        if trained_k is not None:
            model.hint_module.num_hints = trained_k

    def hints_off():
        model.hint_module = None

    def with_k(k):
        def apply():
            as_trained()
            model.hint_module.num_hints = k

        return apply

    found = [("hints as trained", as_trained), ("hints off", hints_off)]
    if trained_k is not None and model.config.variant == "r":
        found += [(f"k={k}", with_k(k)) for k in ks if k != trained_k]
    return found


def cut_run(path: str, run, depth: int) -> dict:
    """``path``'s rankings of ``run``'s queries, which must rerank the same top ``depth`` candidates."""
    found = read_run(path)
    for qid, hits in run.items():
        if {d for d, _ in found.get(qid, [])[:depth]} != {d for d, _ in hits[:depth]}:
            raise SystemExit(
                f"{path}: query {qid}'s top {depth} are not the first-stage run's top {depth}; pass a rerank "
                "of the same first-stage run at the same --depth"
            )
    return {qid: found[qid] for qid in run}


def hint_examples(reranker, queries: dict[str, str], run, text_of, count: int) -> list[dict]:
    """The hint tokens the trained model gives each query's top BM25 document (``text_of(docid)``); none for
    Q-PEFT-A, whose hints are vectors, not tokens."""
    model, tokenizer = reranker.model, reranker.model.tokenizer
    shown = []
    for qid in list(run)[:count]:
        docid = run[qid][0][0]
        [pair] = model.prepare([queries[qid]], [text_of(docid)])
        if not pair.hint_tokens:
            continue
        shown.append(
            {
                "qid": qid,
                "query": queries[qid],
                "docid": docid,
                "hint_tokens": [tokenizer.decode([t]) for t in pair.hint_tokens],
            }
        )
    return shown


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from pyserini_qpeft.reranker import QPEFTReranker

    queries, qrels = topics_and_qrels(args)
    run = {qid: hits for qid, hits in read_run(args.run).items() if qid in queries}
    if args.index:
        from pyserini_qpeft.lucene.index import document_text, open_searcher
        from pyserini_qpeft.runs.rerank import rerank_run

        searcher = open_searcher(args.index)

        def text_of(docid):
            return document_text(searcher, docid)

        def rerank(reranker):
            return rerank_run(reranker, run, queries, searcher, depth=args.depth)

    else:
        from gpu_rerank import rerank_with_texts, top_texts

        texts = top_texts(args.beir, run, args.depth)
        text_of = texts.__getitem__

        def rerank(reranker):
            return rerank_with_texts(reranker, run, queries, texts, args.depth)

    ks = [int(k) for k in args.ks.split(",") if k.strip()]
    given = dict(spec.split("=", 1) for spec in args.trained_run)
    result = {"command": command_line(), **machine_info(), "queries": len(run), "depth": args.depth, "ablation": {}}
    for spec in args.checkpoint:
        name, folder = spec.split("=", 1)
        reranker = QPEFTReranker.from_pretrained(
            folder, device=args.device, max_length=args.max_length, dtype=args.dtype
        )
        rows, base = {}, None
        variants = settings(reranker, ks)
        for label, apply in variants:
            apply()
            path = args.work / f"{name}-{label.replace(' ', '-').replace('=', '')}.trec"
            if not path.exists() and label == variants[0][0] and name in given:
                write_run(path, cut_run(given[name], run, args.depth), name)
            if not path.exists():
                started = time.time()
                write_run(path, rerank(reranker), name)
                write_timing(path, time.time() - started)
            seconds = read_timing(path).get("seconds_last_call")  # None for a run taken from the table
            values = per_query(read_run(path), qrels, ["nDCG@10"])["nDCG@10"]
            qids = sorted(values)
            scores = [values[q] for q in qids]
            mean, low, high = mean_ci(scores)
            rows[label] = {"nDCG@10": mean, "ci": [low, high], "run": str(path), "seconds": seconds}
            if base is None:
                base = scores
            else:
                rows[label]["vs_trained"] = paired(scores, base)
        variants[0][1]()  # back to the hints as trained, for the examples
        examples = hint_examples(reranker, queries, run, text_of, args.examples) if reranker.model.hint_module else []
        result["ablation"][name] = {"checkpoint": folder, "settings": rows, "examples": examples}
        del reranker

    lines = [
        f"# Hint ablation: {result['queries']} queries, BM25 top {args.depth}",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}",
        "",
        "| model | setting | nDCG@10 [95% CI] | vs as trained [95% CI] | p |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, model in result["ablation"].items():
        for label, row in model["settings"].items():
            versus = row.get("vs_trained")
            diff = f"{versus['diff']:+.4f} [{versus['ci'][0]:+.4f}, {versus['ci'][1]:+.4f}]" if versus else ""
            p = "" if not versus or versus["p"] is None else f"{versus['p']:.2g}"
            lines.append(
                f"| {name} | {label} | {row['nDCG@10']:.4f} [{row['ci'][0]:.4f}, {row['ci'][1]:.4f}] | {diff} | {p} |"
            )
    for name, model in result["ablation"].items():
        for example in model["examples"]:
            tokens = " ".join(repr(t) for t in example["hint_tokens"])
            lines += ["", f"- {name}, query {example['qid']} ({example['query']!r}), doc {example['docid']}: {tokens}"]
    write_results(args.out, result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
