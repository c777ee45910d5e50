"""float32 against bfloat16 on this machine: reranking pairs/s of the default model, and what ``--dtype auto`` picks.

The same pairs (BM25's top ``--docs`` of the first ``--queries`` scifact test queries) are scored by one reranker
per dtype in one process, alternating the dtypes on every repeat after a warm-up; the table gives medians. The
CPU's answers to torch's bf16 probes are recorded beside the measurement, so the probe ``auto`` relies on
(AVX512-BF16 or AMX, not oneDNN's) can be checked against the speed it predicts.

    python benchmarks/bench_dtype.py --beir ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from pathlib import Path

import torch

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.model.config import DEFAULT_MODEL
from pyserini_qpeft.model.loading import auto_dtype, dtype_name
from pyserini_qpeft.runs.beir import iter_corpus, load_queries
from pyserini_qpeft.runs.trec import read_run
from pyserini_qpeft.text import title_and_text

from benchlib import command_line, machine_info, write_results

DEFAULT_RUN = "benchmarks/results/scifact_quality/runs/bm25.trec"
DTYPES = ("float32", "bfloat16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True)
    parser.add_argument("--run", default=DEFAULT_RUN)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/dtype_cpu")
    return parser.parse_args(argv)


def cpu_probes() -> dict[str, bool]:
    """torch's answers to 'does this CPU do bf16?' (only the last two are native-arithmetic probes)."""
    return {
        "mkldnn_bf16_supported": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "avx512_bf16_supported": bool(torch.cpu._is_avx512_bf16_supported()),
        "amx_tile_supported": bool(torch.cpu._is_amx_tile_supported()),
    }


def load_groups(args) -> list[tuple[str, list[str]]]:
    topics = load_queries(args.beir, "test")
    run = list(read_run(args.run).items())[: args.queries]
    chosen = [(qid, [d for d, _ in hits[: args.docs]]) for qid, hits in run]
    wanted = {d for _, docs in chosen for d in docs}
    texts = {str(r["_id"]): title_and_text(r.get("title"), r.get("text")) for r in iter_corpus(args.beir)}
    return [(topics[qid], [texts[d] for d in docs if d in wanted]) for qid, docs in chosen]


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    groups = load_groups(args)
    pairs = sum(len(docs) for _, docs in groups)
    rerankers = {d: QPEFTReranker.from_pretrained(args.model, dtype=d, max_length=args.max_length) for d in DTYPES}
    seconds: dict[str, list[float]] = {d: [] for d in DTYPES}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for dtype, reranker in rerankers.items():
            started = time.perf_counter()
            for query, docs in groups:
                reranker.score(query, docs)
            if repeat:
                seconds[dtype].append(time.perf_counter() - started)
    chosen, why = auto_dtype("cpu")
    rows = {
        d: {"median_seconds": statistics.median(s), "pairs_per_second": pairs / statistics.median(s), "seconds": s}
        for d, s in seconds.items()
    }
    ratio = rows["bfloat16"]["pairs_per_second"] / rows["float32"]["pairs_per_second"]
    faster = "bfloat16" if ratio > 1 else "float32"
    auto = dtype_name(chosen)
    result = {
        **machine_info("cpu"),
        "command": command_line(),
        "model": args.model,
        "pairs": pairs,
        "max_length": args.max_length,
        "repeats": args.repeats,
        "probes": cpu_probes(),
        "auto": {"dtype": auto, "why": why, "agrees_with_measurement": auto == faster},
        "dtypes": rows,
        "bf16_over_fp32": ratio,
    }
    md = [
        "# float32 vs bfloat16 on this machine",
        "",
        f"`{result['command']}` on {result['date']}; {result['machine']}.",
        "",
        f"{pairs} scifact pairs ({args.queries} queries x BM25 top {args.docs}), {args.model}, max_length "
        f"{args.max_length}, {args.repeats} alternating repeats after a warm-up; medians.",
        "",
        "| dtype | pairs/s | median s |",
        "| --- | --- | --- |",
        *(f"| {d} | {r['pairs_per_second']:.2f} | {r['median_seconds']:.2f} |" for d, r in rows.items()),
        "",
        f"bf16 / fp32 speed: **{ratio:.2f}x**; faster here: {faster}.",
        f"torch's probes: {', '.join(f'{k} {v}' for k, v in result['probes'].items())}.",
        f"`--dtype auto` picks **{auto}** ({why}): "
        f"{'agrees with' if auto == faster else 'DISAGREES with'} the measurement.",
    ]
    write_results(Path(args.out), result, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
