"""What running across processes costs, and what it would take at scale.

1. Overhead: the same ``pyserini-qpeft rerank`` (same pairs) as 1 process x 2 threads and as
   ``torchrun --nproc-per-node 2`` x 1 thread, alternating, medians of whole-command wall times; the
   outputs are compared byte for byte.
2. Gradient message: one all-reduce of the dense trainable tensors of Q-PEFT-R/A (the query-token table is
   vocabulary x hidden) between 2 gloo processes, against an all-gather of only the rows a global batch
   touches (counted on real training queries), next to the measured training step time.
3. Scale model: wall time of reranking MS MARCO dev and the BEIR test sets at depth 100 on 1, 8 and 64
   GPUs, from pairs/s per device (measured on a GPU if ``--gpu-pairs-per-s`` is given, else from FLOPs at
   an assumed MFU), with the assumptions written into the results.

Usage: .venv/bin/python benchmarks/bench_distributed.py --beir ../shared/data/scifact --index runs/scifact-scale/index
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import command_line, machine_info, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Test queries per collection (BEIR paper, Table 1); MS MARCO is its dev set.
BEIR_TEST_QUERIES = {
    "trec-covid": 50,
    "nfcorpus": 323,
    "bioasq": 500,
    "nq": 3452,
    "hotpotqa": 7405,
    "fiqa": 648,
    "signal1m": 97,
    "trec-news": 57,
    "robust04": 249,
    "arguana": 1406,
    "webis-touche2020": 49,
    "cqadupstack": 13145,
    "quora": 10000,
    "dbpedia-entity": 400,
    "scidocs": 1000,
    "fever": 6666,
    "climate-fever": 1535,
    "scifact": 300,
}
MSMARCO_DEV_QUERIES = 6980
H100_BF16_DENSE_TFLOPS = 989.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--run", type=Path, default=ROOT / "benchmarks/results/scifact_quality/runs/bm25.trec")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--queries", type=int, default=16, help="test queries reranked per timed command")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--allreduce-repeats", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, default=None, help="measured training step time to compare")
    parser.add_argument("--gpu-pairs-per-s", type=float, default=None, help="measured GPU pairs/s (else FLOPs/MFU)")
    parser.add_argument("--mfu", type=float, default=0.2, help="assumed MFU when no GPU figure is given")
    parser.add_argument("--startup-seconds", type=float, default=30.0, help="per job: JVM, model load, reading runs")
    parser.add_argument("--tokens-per-pair", type=float, default=None, help="default: measured on --beir")
    parser.add_argument("--scale-max-length", type=int, default=512, help="max_length for the scale model")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite results.md from --out's results.json")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/distributed")
    return parser.parse_args(argv)


# -- 1. overhead ---------------------------------------------------------------------------------------------
def _subset_run(source: Path, queries: int, target: Path) -> None:
    kept, lines = [], []
    for line in source.read_text().splitlines(keepends=True):
        qid = line.split()[0]
        if qid not in kept:
            if len(kept) == queries:
                continue
            kept.append(qid)
        lines.append(line)
    target.write_text("".join(lines))


def _timed(command: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - started


def overhead(args, work: Path) -> dict:
    run = work / "bm25.trec"
    _subset_run(args.run, args.queries, run)
    rerank = ["rerank", "--run-file", str(run), "--index", str(args.index), "--beir", str(args.beir)]
    rerank += ["--split", "test", "--model", args.model, "--depth", str(args.depth)]
    rerank += ["--max-length", str(args.max_length), "--dtype", args.dtype]
    one = [str(BIN / "pyserini-qpeft"), "-q", *rerank]
    two = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node=2", "-m", "pyserini_qpeft", "-q", *rerank]
    times: dict[str, list[float]] = {"1 process x 2 threads": [], "2 processes x 1 thread": []}
    identical = []
    for repeat in range(args.repeats):
        a, b = work / f"one{repeat}.trec", work / f"two{repeat}.trec"
        times["1 process x 2 threads"].append(_timed([*one, "--output", str(a)], 2))
        times["2 processes x 1 thread"].append(_timed([*two, "--output", str(b)], 1))
        identical.append(a.read_bytes() == b.read_bytes())
    medians = {name: statistics.median(values) for name, values in times.items()}
    pairs = sum(1 for _ in run.read_text().splitlines() if int(_.split()[3]) <= args.depth)
    return {
        "queries": args.queries,
        "depth": args.depth,
        "pairs": pairs,
        "seconds": times,
        "median_s": medians,
        "ratio_2x1_over_1x2": medians["2 processes x 1 thread"] / medians["1 process x 2 threads"],
        "outputs_byte_identical": identical,
    }


# -- 2. gradient message -------------------------------------------------------------------------------------
def _allreduce_worker(rank: int, size: int, port: int, shapes, rows: int, repeats: int, queue) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=size)
    dense = [torch.randn(shape) for shape in shapes]
    width = shapes[0][1]
    table = torch.zeros(shapes[0])  # the gradient buffer the rows are summed into
    timings: dict[str, list[float]] = {"dense all-reduce": [], "touched rows all-gather": []}
    for _ in range(repeats + 1):  # the first is a warm-up
        dist.barrier()
        started = time.perf_counter()
        flat = torch.cat([t.reshape(-1) for t in dense])
        dist.all_reduce(flat)
        dense_s = time.perf_counter() - started
        ids = torch.randint(0, shapes[0][0], (rows,))
        values = torch.randn(rows, width)
        dist.barrier()
        started = time.perf_counter()  # the small tensors still go dense; the table as (row ids, rows)
        small = torch.cat([t.reshape(-1) for t in dense[1:]])
        dist.all_reduce(small)
        gathered_ids = [torch.empty_like(ids) for _ in range(size)]
        gathered = [torch.empty_like(values) for _ in range(size)]
        dist.all_gather(gathered_ids, ids)
        dist.all_gather(gathered, values)
        table.zero_()
        for i, v in zip(gathered_ids, gathered):
            table.index_add_(0, i, v)
        sparse_s = time.perf_counter() - started
        timings["dense all-reduce"].append(dense_s)
        timings["touched rows all-gather"].append(sparse_s)
    if rank == 0:
        queue.put({name: values[1:] for name, values in timings.items()})
    dist.destroy_process_group()


def _tokenizer(model: str):
    from transformers import AutoTokenizer

    from pyserini_qpeft.model.loading import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(model))


def _model_config(model: str):
    from transformers import AutoConfig

    from pyserini_qpeft.model.loading import resolve_model

    return AutoConfig.from_pretrained(resolve_model(model))


def touched_rows(args) -> dict:
    """Distinct query tokens per global batch of 4 training queries (the trainable rows a step changes)."""
    import random

    from pyserini_qpeft.runs.beir import load_queries

    tokenizer = _tokenizer(args.model)
    queries = list(load_queries(args.beir, "train").values())
    rng = random.Random(0)
    counts = []
    for _ in range(200):
        batch = rng.sample(queries, 4)
        counts.append(len({t for q in batch for t in tokenizer(q, add_special_tokens=False)["input_ids"]}))
    return {"median": statistics.median(counts), "max": max(counts), "batches": len(counts)}


def gradient_message(args) -> dict:
    import socket

    import torch.multiprocessing as mp

    config = _model_config(args.model)
    vocab, hidden = config.vocab_size, config.hidden_size
    # r/a: the query-token table (vocab x hidden) dominates; prompt (10 x hidden) and the hint MLP are small.
    shapes = [(vocab, hidden), (10, hidden), (hidden, hidden), (hidden, hidden)]
    rows = touched_rows(args)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(
            target=_allreduce_worker, args=(rank, 2, port, shapes, int(rows["max"]), args.allreduce_repeats, queue)
        )
        for rank in range(2)
    ]
    for process in processes:
        process.start()
    timings = queue.get(timeout=600)
    for process in processes:
        process.join()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    floats = sum(a * b for a, b in shapes)
    return {
        "processes": 2,
        "backend": "gloo",
        "trainable_floats": floats,
        "dense_message_mib": floats * 4 / 2**20,
        "touched_rows_per_global_batch_of_4": rows,
        "touched_message_mib": (rows["max"] * (hidden * 4 + 8) + (floats - vocab * hidden) * 4) / 2**20,
        "seconds": timings,
        "median_s": medians,
        "step_seconds": args.step_seconds,
        "dense_share_of_step": medians["dense all-reduce"] / args.step_seconds if args.step_seconds else None,
    }


# -- 3. scale model --------------------------------------------------------------------------------------------
def tokens_per_pair(args) -> float:
    """Mean tokens of a (query, top-100 document) pair on --beir, capped at --max-length (prompt and hints
    included at 10 + 10 tokens)."""
    if args.tokens_per_pair:
        return args.tokens_per_pair
    from pyserini_qpeft.runs.beir import load_queries

    tokenizer = _tokenizer(args.model)
    lengths = []
    with open(args.beir / "corpus.jsonl", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number == 500:
                break
            doc = json.loads(line)
            text = f"{doc.get('title', '')} {doc.get('text', '')}"
            lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]))
    query = statistics.mean(
        len(tokenizer(q, add_special_tokens=False)["input_ids"])
        for q in list(load_queries(args.beir, "test").values())[:100]
    )
    return min(args.scale_max_length, statistics.mean(lengths) + query + 20)


def scale(args, cpu_pairs_per_s: float | None) -> dict:
    config = _model_config(args.model)
    parameters = 134_515_008 if args.model == DEFAULT_MODEL else None
    if parameters is None:
        raise SystemExit("--model: the scale model knows only the default model's parameter count")
    tokens = tokens_per_pair(args)
    flops_per_pair = 2 * parameters * tokens + 2 * config.num_hidden_layers * tokens * tokens * config.hidden_size
    if args.gpu_pairs_per_s:
        gpu = args.gpu_pairs_per_s
        basis = "measured on a GPU (--gpu-pairs-per-s)"
    else:
        gpu = H100_BF16_DENSE_TFLOPS * 1e12 * args.mfu / flops_per_pair
        basis = f"FLOPs per pair at {args.mfu:.0%} MFU of an H100's {H100_BF16_DENSE_TFLOPS:.0f} dense bf16 TFLOPS"
    pairs = {
        "MS MARCO dev (6,980 queries)": MSMARCO_DEV_QUERIES * 100,
        f"BEIR test sets ({len(BEIR_TEST_QUERIES)}, {sum(BEIR_TEST_QUERIES.values()):,} queries)": sum(
            BEIR_TEST_QUERIES.values()
        )
        * 100,
    }
    efficiency = 0.95  # pairs/s per GPU kept with many GPUs: startup, the last rank's tail, the merge on rank 0
    rows = []
    for name, count in pairs.items():
        for gpus in (1, 8, 64):
            rate = gpu * gpus * (efficiency if gpus > 1 else 1.0)
            hours = (args.startup_seconds + count / rate) / 3600
            rows.append({"collection": name, "pairs": count, "gpus": gpus, "hours": hours})
        if cpu_pairs_per_s:
            rows.append({"collection": name, "pairs": count, "gpus": 0, "hours": count / cpu_pairs_per_s / 3600})
    return {
        "model": args.model,
        "tokens_per_pair": tokens,
        "flops_per_pair": flops_per_pair,
        "gpu_pairs_per_s": gpu,
        "gpu_basis": basis,
        "cpu_pairs_per_s_this_machine": cpu_pairs_per_s,
        "multi_gpu_efficiency": efficiency,
        "assumptions": [
            "depth 100: every query's BM25 top 100 is scored; pairs cost FLOPs in proportion to their tokens",
            f"mean pair length {tokens:.0f} tokens (scifact documents, cut at max_length {args.scale_max_length})",
            "FLOPs per pair = 2 x parameters x tokens + attention (2 x layers x tokens^2 x hidden)",
            basis,
            f"{efficiency:.0%} per-GPU efficiency with 8 or 64 GPUs (topics are balanced by pairs; each rank "
            "loads the model once and rank 0 merges the run at the end)",
            "BM25 and document fetching run beside the GPU and are not the bottleneck",
            f"{args.startup_seconds:.0f} s per job for starting Java, loading the model and reading the run",
            "the last column: this 2-core CPU at the pairs/s measured above (2 processes; max_length 256)",
        ],
        "rows": rows,
    }


def _duration(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.1f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"


def markdown(result: dict) -> list[str]:
    lines = [
        "# Distributed reranking and training: overhead, gradient message, scale model",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}",
        "",
    ]
    over = result.get("overhead")
    if over:
        lines += [
            f"## Overhead: {over['pairs']} pairs ({over['queries']} scifact test queries x top {over['depth']}), "
            "whole `rerank` command, medians",
            "",
            "| setup | median s | runs (s) |",
            "| --- | --- | --- |",
        ]
        for name, values in over["seconds"].items():
            lines.append(f"| {name} | {over['median_s'][name]:.1f} | {', '.join(f'{v:.1f}' for v in values)} |")
        lines += [
            "",
            f"Ratio 2x1 / 1x2: **{over['ratio_2x1_over_1x2']:.3f}**; outputs byte-identical: "
            f"{over['outputs_byte_identical']}.",
            "",
        ]
    grad = result["gradient_message"]
    share = grad["dense_share_of_step"]
    lines += [
        "## Gradient message of Q-PEFT-R/A (2 gloo processes, 1 thread each)",
        "",
        f"Dense: {grad['trainable_floats']:,} floats ({grad['dense_message_mib']:.0f} MiB) all-reduced per step: "
        f"median **{grad['median_s']['dense all-reduce'] * 1000:.0f} ms**. Only the touched rows "
        f"({grad['touched_rows_per_global_batch_of_4']['max']} at most per global batch of 4 scifact train "
        f"queries, {grad['touched_message_mib']:.2f} MiB) all-gathered and summed: "
        f"median **{grad['median_s']['touched rows all-gather'] * 1000:.0f} ms**."
        + (
            f" Training step: {grad['step_seconds']:.1f} s, so the dense message is {share:.1%} of it." if share else ""
        ),
        "",
    ]
    sc = result["scale"]
    lines += [
        "## Scale model: depth 100, default model",
        "",
        f"{sc['gpu_pairs_per_s']:.0f} pairs/s per GPU ({sc['gpu_basis']}); "
        f"{sc['flops_per_pair'] / 1e9:.0f} GFLOPs per pair at {sc['tokens_per_pair']:.0f} tokens."
        + (
            f" This CPU: {sc['cpu_pairs_per_s_this_machine']:.2f} pairs/s (2 processes)."
            if sc["cpu_pairs_per_s_this_machine"]
            else ""
        ),
        "",
        "| collection | pairs | 1 GPU | 8 GPUs | 64 GPUs | this CPU |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in dict.fromkeys(row["collection"] for row in sc["rows"]):
        rows = {row["gpus"]: row for row in sc["rows"] if row["collection"] == name}
        cells = [_duration(rows[g]["hours"]) if g in rows else "" for g in (1, 8, 64, 0)]
        lines.append(f"| {name} | {rows[1]['pairs']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Assumptions:", ""] + [f"- {a}" for a in sc["assumptions"]]
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.markdown_only:
        result = json.loads((args.out / "results.json").read_text())
        write_results(args.out, result, markdown(result))
        return 0
    result = {"command": command_line(), **machine_info("cpu")}
    cpu_rate = None
    if not args.skip_overhead:
        with tempfile.TemporaryDirectory() as work:
            result["overhead"] = overhead(args, Path(work))
        cpu_rate = result["overhead"]["pairs"] / result["overhead"]["median_s"]["2 processes x 1 thread"]
    result["gradient_message"] = gradient_message(args)
    result["scale"] = scale(args, cpu_rate)
    write_results(args.out, result, markdown(result))
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
