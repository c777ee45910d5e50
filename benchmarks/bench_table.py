"""The full quality table: every test query, BM25 and each reranker alone and fused with BM25.

BM25 retrieves ``--hits`` per query; each system (``--system NAME=MODEL``: a checkpoint folder, preset or bare LM)
reranks the top ``--depth`` with ``pyserini-qpeft rerank --no-fusion`` (journaled: rerun the same command after
an interruption and it resumes; a finished run is reused). A system whose checkpoint carries a fusion weight
(picked on dev at the end of training) is also scored fused with BM25 at that weight, computed from its run
(from the run file's 6-decimal scores: the same top-depth order as ``rerank`` with fusion, fused scores within about
1e-4, so only near-ties can differ).
Every judged topic counts (0 where BM25 retrieves nothing, as ``evaluate --complete`` and Pyserini's BEIR
regressions). Reported: nDCG@10, MRR@10, R@100 with 95% confidence intervals (t over queries), and two-sided
paired t-tests (scipy) against BM25 and against ``--baseline``.

    .venv/bin/python benchmarks/bench_table.py --beir ../shared/data/scifact --index runs/scifact-scale/index \
        --system zeroshot=runs/scifact-scale/checkpoints/zeroshot-fused --system prompt=CKPT ... \
        --work runs/scifact-table --out benchmarks/results/scifact_table
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.runs.beir import load_qrels, load_queries, qrels_path
from pyserini_qpeft.runs.evaluation import per_query
from pyserini_qpeft.runs.trec import read_run, write_run

from benchlib import (
    command_line,
    format_p,
    machine_info,
    paired_t_test,
    read_timing,
    resolved_dtype,
    timing_path,
    write_results,
    write_timing,
)

METRICS = ["nDCG@10", "MRR@10", "R@100"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--max-queries", type=int, default=None, help="default: every query of the split")
    parser.add_argument("--system", action="append", default=[], metavar="NAME=MODEL", required=True)
    parser.add_argument("--baseline", default="prompt", help="the system every other is also tested against")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--hits", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path("runs/scifact-table"), help="run files (resumable)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scifact_table"))
    return parser.parse_args(argv)


def mean_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and its 95% confidence interval (Student t over the values)."""
    from scipy import stats

    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def paired(a: list[float], b: list[float]) -> dict:
    """Mean of a - b with its 95% CI, and the two-sided paired t-test's p (None when a == b everywhere)."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean, low, high = mean_ci(diffs)
    p = None if all(d == 0 for d in diffs) else paired_t_test(a, b)[1]
    return {"diff": mean, "ci": [low, high], "p": p}


def rerank(args, name: str, model: str, bm25_path: Path, work: Path) -> dict:
    """The system's run (its LM scores alone), journaled by the ``rerank`` command (run as a subprocess, so its
    time includes starting the command); reused when finished."""
    path = work / f"{name}.trec"
    if not path.exists():
        command = [sys.executable, "-m", "pyserini_qpeft", "-q", "rerank", "--run", str(bm25_path)]
        command += ["--index", args.index, "--beir", args.beir]
        command += ["--split", args.split, "--model", model, "--depth", str(args.depth), "--no-fusion"]
        command += ["--max-length", str(args.max_length), "--dtype", args.dtype, "--batch-size", str(args.batch_size)]
        command += ["--output", str(path), "--resume"]
        if args.max_queries:
            command += ["--max-queries", str(args.max_queries)]
        started = time.time()
        if subprocess.run(command).returncode != 0:
            raise SystemExit(f"reranking with {name} failed")
        write_timing(path, time.time() - started, dtype=resolved_dtype(args.dtype))
    # The call that finished the run (a resumed run's earlier calls are not counted).
    recorded = read_timing(path)
    return {
        "model": model,
        "run": str(path),
        "rerank_seconds_last_call": recorded.get("seconds_last_call"),
        "rerank_threads": recorded.get("threads"),
        "rerank_device": recorded.get("device", "cpu"),  # runs made by benchmarks/gpu_rerank.py say which GPU
        "rerank_dtype": recorded.get("dtype"),
    }


def fusion_weight(model: str) -> float | None:
    from pyserini_qpeft.model.config import QPEFTConfig
    from pyserini_qpeft.model.presets import resolve

    folder = resolve(model) or Path(model)
    if not (folder / "qpeft_config.json").is_file():
        return None
    return QPEFTConfig.load(folder).fusion_weight


def topics_and_qrels(args) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The first ``--max-queries`` queries of ``--split`` and its qrels; ``--work`` is created."""
    from pyserini_qpeft.runs.beir import first_queries

    args.work.mkdir(parents=True, exist_ok=True)
    queries = first_queries(load_queries(args.beir, args.split), args.max_queries)
    return queries, load_qrels(qrels_path(args.beir, args.split))


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
    from pyserini_qpeft.lucene.index import open_searcher
    from pyserini_qpeft.runs.fusion import interpolate

    queries, qrels = topics_and_qrels(args)
    bm25_path = args.work / "bm25.trec"
    if not bm25_path.exists():
        write_run(bm25_path, hits_to_run(bm25_search(open_searcher(args.index), queries, hits=args.hits)), "bm25")
    bm25 = read_run(bm25_path)
    runs = {"bm25": bm25}
    systems: dict[str, dict] = {"bm25": {"run": str(bm25_path)}}
    for spec in args.system:
        name, model = spec.split("=", 1)
        systems[name] = rerank(args, name, model, bm25_path, args.work)
        runs[name] = read_run(systems[name]["run"])
        weight = fusion_weight(model)
        if weight is not None:
            fused_name = f"{name}+bm25"
            fused_path = args.work / f"{fused_name}.trec"
            write_run(fused_path, interpolate(bm25, runs[name], weight, args.depth), f"{name}-fused{weight:.2f}")
            # Scored as written (six decimals), not in memory: scores that round to the same value tie in the
            # file, and any evaluator then ranks them by docid, as this table does.
            runs[fused_name] = read_run(fused_path)
            systems[fused_name] = {"model": model, "run": str(fused_path), "fusion_weight": weight}

    # Every judged topic counts, 0 where a run has nothing for it (trec_eval -c, as Pyserini's BEIR regressions).
    judged = {qid: qrels[qid] for qid in queries if qrels.get(qid)}
    scores = {name: per_query(run, judged, METRICS, complete=True) for name, run in runs.items()}
    qids = sorted(judged)
    table = {}
    for name, per_metric in scores.items():
        row = {**systems[name], "queries": len(qids)}
        for metric in METRICS:
            values = [per_metric[metric].get(q, 0.0) for q in qids]
            mean, low, high = mean_ci(values)
            row[metric] = {"mean": mean, "ci": [low, high]}
            for other in ("bm25", args.baseline):
                if other != name and other in scores:
                    base = [scores[other][metric].get(q, 0.0) for q in qids]
                    row[metric][f"vs_{other}"] = paired(values, base)
        table[name] = row

    result = {
        "command": command_line(),
        **machine_info(),
        "split": args.split,
        "queries": len(qids),
        "depth": args.depth,
        "hits": args.hits,
        "max_length": args.max_length,
        "dtype": resolved_dtype(args.dtype),  # of the runs this call reranks; each row says its own
        "baseline": args.baseline,
        "table": table,
    }
    lines = markdown(result)
    write_results(args.out, result, lines)
    keep_runs(systems, args.out / "runs")
    print("\n".join(lines))
    return 0


def keep_runs(systems: dict[str, dict], folder: Path) -> None:
    """Gzipped copies of every run beside the results (fixed gzip header: the same run gives the same bytes), each
    reranked one with its timing (``NAME.timing.json``), so a table that reuses the run keeps how it was made."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    for name, system in systems.items():
        run = Path(system["run"])
        with atomic_write(folder / f"{name}.trec.gz", "wb") as handle:
            handle.write(gzip.compress(run.read_bytes(), mtime=0))
        if timing_path(run).is_file():
            with atomic_write(timing_path(folder / f"{name}.trec")) as handle:
                handle.write(timing_path(run).read_text(encoding="utf-8"))


def _scored_on(name: str, row: dict) -> str:
    """ "NAME: cpu, 2985.0 s at 1 thread" (the time of the call that finished the run, when recorded)."""
    text = f"{name}: {row['rerank_device']}"
    if row.get("rerank_dtype"):
        text += f", {row['rerank_dtype']}"
    if row.get("rerank_seconds_last_call") is not None:
        text += f", {row['rerank_seconds_last_call']} s"
        if row["rerank_device"] == "cpu":
            text += f" at {row['rerank_threads']} thread{'s' if row['rerank_threads'] != 1 else ''}"
    return text


def _dtypes(result: dict) -> str:
    """The dtype every run was scored in, or a pointer to each run's where they differ or some is not recorded
    (a table made before runs recorded theirs gives its one dtype)."""
    used = {row.get("rerank_dtype") for row in result["table"].values() if "rerank_device" in row}
    if used <= {None}:
        return result["dtype"]
    return used.pop() if len(used) == 1 else "dtype per run (below)"


def markdown(result: dict) -> list[str]:
    baseline = result["baseline"]
    lines = [
        f"# {result['split']} quality: {result['queries']} queries, BM25 top {result['depth']} reranked",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; {result['machine']}; max_length {result['max_length']}, {_dtypes(result)}.",
        "Fused: `w * minmax(BM25) + (1 - w) * minmax(reranker)` over the top depth, w from the checkpoint (dev).",
        "95% confidence intervals: Student t over queries; p: two-sided paired t-test.",
        "",
        f"| system | nDCG@10 [95% CI] | MRR@10 | R@100 | nDCG@10 - BM25 [95% CI] | p vs BM25 | p vs {baseline} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in result["table"].items():
        ndcg = row["nDCG@10"]
        versus = ndcg.get("vs_bm25")
        diff = f"{versus['diff']:+.4f} [{versus['ci'][0]:+.4f}, {versus['ci'][1]:+.4f}]" if versus else ""
        label = f"{name} (w {row['fusion_weight']:.2f})" if "fusion_weight" in row else name
        lines.append(
            f"| {label} | {ndcg['mean']:.4f} [{ndcg['ci'][0]:.4f}, {ndcg['ci'][1]:.4f}] | "
            f"{row['MRR@10']['mean']:.4f} | {row['R@100']['mean']:.4f} | {diff} | "
            f"{format_p(versus['p'] if versus else None)} | "
            f"{format_p(ndcg.get(f'vs_{baseline}', {}).get('p'))} |"
        )
    scored = [_scored_on(name, row) for name, row in result["table"].items() if "rerank_device" in row]
    if scored:
        lines += ["", "Reranked on (with the time of the call that finished the run): " + "; ".join(scored) + "."]
    return lines


if __name__ == "__main__":
    sys.exit(main())
