"""Reranking speed: ours vs the bare LM forward pass vs a naive implementation, plus hint selection.

On the same (query, document) pairs (BM25's top ``--docs`` for the first ``--queries`` scifact test
queries, from a run file; texts from the BEIR corpus), in one process, after a warm-up, alternating the
implementations on every repeat and reporting medians:

(a) ``ours``: ``QPEFTReranker``'s scorer, one call per query, for each variant;
(b) ``bare``: the LM trunk alone over exactly the batches ``ours`` builds (the floor);
(c) ``naive``: ``model(..., labels=...)`` on right-padded batches in input order, full-vocabulary
    logits, the paper's per-pair hint selection (``speed_impls.naive_scores``);
(d) Q-PEFT-R hint selection per query: FAISS vs torch vs the paper's per-pair procedure, against the
    candidate count;
(e) peak memory (resident set on CPU, allocated memory on CUDA) of each timed run.

Model FLOPs are counted with ``torch.utils.flop_counter`` over one scoring pass of ``ours``; MFU is
reported where the device's peak is known (``--peak-tflops`` or a known GPU).

    python benchmarks/bench_speed.py --beir ../shared/data/scifact               # CPU, default model
    python benchmarks/bench_speed.py --beir DATA --device cuda --dtype bfloat16 \\
        --model HuggingFaceTB/SmolLM2-135M-Instruct --model random-llama-1b --batch-size 64 --token-budget 32768 \\
        --out benchmarks/results/speed_gpu
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pyserini_qpeft.model.config import DEFAULT_MODEL, QPEFTConfig
from pyserini_qpeft.model.hint_selection import select_paper
from pyserini_qpeft.model.loading import load_causal_lm
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import QueryLikelihoodScorer, default_token_budget
from pyserini_qpeft.runs.beir import iter_corpus, load_queries
from pyserini_qpeft.runs.trec import read_run
from pyserini_qpeft.text import title_and_text

from benchlib import PeakMemory, command_line, current_rss_mib, machine_info, write_results
from speed_impls import SMOLLM2_135M, bare_forward, naive_scores, our_batches, random_llama

logger = logging.getLogger("bench_speed")
DEFAULT_RUN = "benchmarks/results/scifact_quality/runs/bm25.trec"
IMPLEMENTATIONS = ("ours", "bare", "naive")
# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets.
GPU_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0}
Groups = list[tuple[str, list[str]]]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", required=True, help="BEIR folder (queries, corpus)")
    parser.add_argument("--run", default=DEFAULT_RUN, help="first-stage run giving each query's candidates")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"causal LM (repeatable); 'random-llama-1b' and 'random-smollm2' build random-weight models of "
        f"those shapes (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--tokenizer", default=None, help="saved tokenizer folder for the random models (default: the default model's)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--variants", default="zeroshot,prompt,r,a")
    parser.add_argument("--implementations", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--docs", type=int, default=20, help="candidates per query")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32, help="ours: most pairs per batch (library default)")
    parser.add_argument(
        "--token-budget",
        type=int,
        default=None,
        help="ours: padded tokens per batch (default: the library's, 2048 on CPU, 8192 on GPU)",
    )
    parser.add_argument("--naive-batch-size", type=int, default=16, help="naive: pairs per batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--selection-candidates", default="20,100,1000", help="empty skips (d)")
    parser.add_argument("--selection-queries", type=int, default=10)
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (known GPUs: automatic)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run ours once per variant under torch.profiler and write where the time goes (profile_*.txt)",
    )
    parser.add_argument("--out", default="benchmarks/results/speed_cpu")
    return parser.parse_args(argv)


def corpus_texts(beir: str, docids: set) -> dict[str, str]:
    """ "title\\ntext" (the reranker's document text) of the wanted documents."""
    return {
        str(r["_id"]): title_and_text(r.get("title"), r.get("text"))
        for r in iter_corpus(beir)
        if str(r["_id"]) in docids
    }


def load_groups(args, queries: int, docs: int) -> Groups:
    """(query text, candidate texts) for the first ``queries`` queries of the run, top ``docs`` each."""
    topics = load_queries(args.beir, args.split)
    run = read_run(args.run)
    chosen = [(qid, [d for d, _ in hits[:docs]]) for qid, hits in list(run.items())[:queries]]
    texts = corpus_texts(args.beir, {d for _, ds in chosen for d in ds})
    return [(topics[qid], [texts[d] for d in ds]) for qid, ds in chosen]


def random_tokenizer(source: str | None):
    """The default model's tokenizer, from ``source`` (a saved tokenizer folder) or the default model itself."""
    if source:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(source)
    return load_causal_lm(DEFAULT_MODEL, device="cpu", dtype="float32")[1]


def build_lm(name: str, device: str, dtype: str, tokenizer_source: str | None = None):
    """The named LM; ``random-llama-1b`` and ``random-smollm2`` are random-weight models of those shapes."""
    shapes = {"random-llama-1b": {}, "random-smollm2": SMOLLM2_135M}
    if name in shapes:
        tokenizer = random_tokenizer(tokenizer_source)
        return random_llama(tokenizer, device=device, dtype=getattr(torch, dtype), **shapes[name]), tokenizer
    return load_causal_lm(name, device=device, dtype=dtype)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of ``fn()`` as torch's flop counter sees them (attention counted in full, as for GPU kernels)."""
    from torch.utils.flop_counter import FlopCounterMode

    # torch does not count the CPU flash-attention kernel; count it like its CUDA siblings.
    extra = {}
    if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
        extra[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_attention_flops
    with FlopCounterMode(display=False, custom_mapping=extra) as counter:
        fn()
    return int(counter.get_total_flops())


def time_alternating(impls: dict[str, Callable[[], object]], repeats: int, device: str, bar=None) -> dict[str, dict]:
    """Run every implementation once per repeat, rotating their order; times and peak memory of each run."""
    names = list(impls)
    found = {name: {"seconds": [], "peak_rss_mib": 0.0, "peak_cuda_mib": None} for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            synchronize(device)
            with PeakMemory(device) as memory:
                started = time.perf_counter()
                impls[name]()
                synchronize(device)
                elapsed = time.perf_counter() - started
            found[name]["seconds"].append(elapsed)
            found[name]["peak_rss_mib"] = max(found[name]["peak_rss_mib"], memory.rss_mib)
            if memory.cuda_mib is not None:
                found[name]["peak_cuda_mib"] = max(found[name]["peak_cuda_mib"] or 0.0, memory.cuda_mib)
            if bar is not None:
                bar.update(1)
    return found


def measure_variant(args, lm, tokenizer, variant: str, groups: Groups, impl_names: list[str], bar) -> list[dict]:
    """Rows (one per implementation) for one variant of one model."""
    model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant=variant, max_length=args.max_length))
    model.eval()
    scorer = QueryLikelihoodScorer(model, batch_size=args.batch_size, token_budget=args.token_budget)
    batches = [our_batches(model, q, docs, args.batch_size, args.token_budget) for q, docs in groups]
    pairs = sum(len(docs) for _, docs in groups)
    real_tokens = sum(int(b.attention_mask.sum()) for group in batches for b in group)
    ours_padded = sum(b.input_ids.numel() for group in batches for b in group)
    # Naive batches: input order, right padding, the full sequence (one more token than ours) per row.
    naive_padded = 0
    for group in batches:
        lengths = [len(p) + 1 for p in sorted((p for b in group for p in b.pairs), key=lambda p: p.index)]
        size = args.naive_batch_size
        naive_padded += sum(
            max(lengths[s : s + size]) * len(lengths[s : s + size]) for s in range(0, len(lengths), size)
        )

    impls = {
        "ours": lambda: [scorer.score_pairs([q] * len(docs), docs) for q, docs in groups],
        "bare": lambda: [bare_forward(model, group) for group in batches],
        "naive": lambda: [naive_scores(model, q, docs, args.naive_batch_size) for q, docs in groups],
    }
    impls = {name: impls[name] for name in impl_names}
    flops = count_flops(impls["ours"]) if "ours" in impls else None  # also the warm-up of ours
    # Warm-up on the first query (ours: the FLOP count above); naive's also checks that it gives our scores.
    agreement = None
    if "bare" in impls:
        bare_forward(model, batches[0])
    if "naive" in impls:
        first_query, first_docs = groups[0]
        naive = naive_scores(model, first_query, first_docs, args.naive_batch_size)
        ours = scorer.score_pairs([first_query] * len(first_docs), first_docs)
        agreement = max(abs(a - b) for a, b in zip(ours, naive))
    timed = time_alternating(impls, args.repeats, args.device, bar)
    if args.profile and "ours" in impls:
        profile_ours(impls["ours"], args.device, Path(args.out) / f"profile_{model_label(lm)}_{variant}.txt")
    peak = peak_flops(args)
    rows = []
    for name, found in timed.items():
        median = statistics.median(found["seconds"])
        rows.append(
            {
                "variant": variant,
                "implementation": name,
                "pairs": pairs,
                "real_tokens": real_tokens,
                "padded_tokens": naive_padded if name == "naive" else ours_padded,
                "median_s": median,
                "seconds": found["seconds"],
                "pairs_per_s": pairs / median,
                "tokens_per_s": real_tokens / median,
                "peak_rss_mib": found["peak_rss_mib"],
                "peak_cuda_mib": found["peak_cuda_mib"],
                "model_flops": flops,
                "tflops_per_s": flops / median / 1e12 if flops else None,
                "mfu": flops / median / (peak * 1e12) if flops and peak else None,
                "max_abs_score_diff_ours_vs_naive": agreement,
            }
        )
    return rows  # the model, scorer and batches are freed with this frame


def model_label(lm) -> str:
    """A short file-name-safe label for a model: its parameter count, e.g. "135M"."""
    count = sum(p.numel() for p in lm.parameters())
    return f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def profile_ours(run: Callable[[], object], device: str, path: Path) -> None:
    """One run of ``run`` under torch.profiler: the operators by total self time (host and, on CUDA, device), and
    the host's time in the scorer's own steps, written to ``path``."""
    from torch.profiler import ProfilerActivity, profile, record_function

    from pyserini_qpeft.model import qpeft_model, scoring

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    wrapped = {}
    for module, name in (
        (scoring, "collate"),
        (qpeft_model.QPEFTModel, "prepare"),
        (qpeft_model.QPEFTModel, "log_likelihood"),
    ):
        original = getattr(module, name)
        wrapped[(module, name)] = original

        def traced(*a, _original=original, _name=name, **k):
            with record_function(f"qpeft.{_name}"):
                return _original(*a, **k)

        setattr(module, name, traced)
    try:
        synchronize(device)
        with profile(activities=activities) as prof:
            run()
            synchronize(device)
    finally:
        for (module, name), original in wrapped.items():
            setattr(module, name, original)
    key = "self_cuda_time_total" if device.startswith("cuda") else "self_cpu_time_total"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        prof.key_averages().table(sort_by=key, row_limit=30)
        + "\n\nHost time in the scorer's steps:\n"
        + prof.key_averages().table(sort_by="cpu_time_total", row_limit=15)
    )
    logger.info("profile written to %s", path)


def _paper_all(q_vecs, q_ids, doc_ids, table, allowed, k) -> list[list[int]]:
    """The paper's per-pair selection over every candidate document of one query."""
    return [select_paper(q_vecs, q_ids, d, table, allowed, k) for d in doc_ids]


def peak_flops(args):
    if args.peak_tflops:
        return args.peak_tflops
    if args.device.startswith("cuda") and args.dtype != "float32" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        for key, value in GPU_PEAK_TFLOPS.items():  # "H100 PCIe" before "H100"
            if all(part in name for part in key.split()):
                return value
    return None


def selection_curve(args, lm, tokenizer) -> list[dict]:
    """Hint selection time per query (median) for FAISS, torch and the paper's per-pair procedure."""
    from pyserini_qpeft.model.hint_selection import faiss_available, select_faiss, select_torch

    counts = [int(c) for c in args.selection_candidates.split(",") if c.strip()]
    if not counts:
        return []
    model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant="r", max_length=args.max_length))
    hints, k = model.hint_module, model.hint_module.num_hints
    groups = load_groups(args, args.selection_queries, max(counts))
    run_depth = min(len(docs) for _, docs in groups)
    if run_depth < max(counts):  # extend with further corpus documents, in file order
        extra_texts = [
            title_and_text(r.get("title"), r.get("text")) for r in itertools.islice(iter_corpus(args.beir), max(counts))
        ]
        groups = [(q, (docs + [t for t in extra_texts if t not in docs])[: max(counts)]) for q, docs in groups]
    methods = {"torch": select_torch, "paper_per_pair": None}
    if faiss_available():
        methods = {"faiss": select_faiss, **methods}
    rows = []
    for count in counts:
        times: dict[str, list[float]] = {name: [] for name in methods}
        for query, docs in groups:
            q_ids = model.encoder.query_ids(query)
            doc_ids = [
                model.encoder.truncate(q_ids, d, model.prompt_slots, k)
                for d in model.encoder.document_ids(docs[:count])
            ]
            q_vecs, table, allowed = hints.selection_inputs(q_ids)
            inputs = (q_vecs, q_ids, doc_ids, table, allowed, k)
            calls = {name: functools.partial(fn, *inputs) for name, fn in methods.items() if fn is not None}
            calls["paper_per_pair"] = functools.partial(_paper_all, *inputs)
            results = {name: call() for name, call in calls.items()}  # warm-up, and the answers must agree
            if len({json.dumps(r) for r in results.values()}) != 1:
                raise AssertionError(f"hint selection methods disagree for query {query!r}")
            for name, found in time_alternating(calls, 3, args.device).items():
                times[name] += found["seconds"]
        rows.append(
            {
                "candidates": count,
                "queries": len(groups),
                **{f"{name}_ms": 1000 * statistics.median(values) for name, values in times.items()},
            }
        )
        logger.info("selection %s", rows[-1])
    return rows


def interleaved(args, loaded, variants: list[str], impl_names: list[str], groups: Groups) -> list[dict]:
    """Every model's ``ours`` and ``bare`` on the same pairs, timed in one rotation per repeat (so a change in the
    machine's load falls on all models alike): one row per (variant, model, implementation)."""
    rows = []
    for variant in variants:
        impls = {}
        for name, lm, tokenizer in loaded:
            model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant=variant, max_length=args.max_length)).eval()
            scorer = QueryLikelihoodScorer(model, batch_size=args.batch_size, token_budget=args.token_budget)
            batches = [our_batches(model, q, docs, args.batch_size, args.token_budget) for q, docs in groups]
            runs = {
                "ours": functools.partial(lambda s: [s.score_pairs([q] * len(d), d) for q, d in groups], scorer),
                "bare": functools.partial(lambda m, b: [bare_forward(m, group) for group in b], model, batches),
            }
            for impl in (i for i in impl_names if i in runs):
                runs[impl]()  # warm-up
                impls[(name, impl)] = runs[impl]
        timed = time_alternating(impls, args.repeats, args.device)
        for (name, impl), found in timed.items():
            rows.append({"variant": variant, "model": name, "implementation": impl, **found})
            rows[-1]["median_s"] = statistics.median(found["seconds"])
    return rows


def cross_model_lines(rows: list[dict]) -> list[str]:
    """Each model's median time for the same pairs over the first model's, timed interleaved (:func:`interleaved`)."""
    if not rows:
        return []
    first = rows[0]["model"]
    base = {(r["variant"], r["implementation"]): r["median_s"] for r in rows if r["model"] == first}
    lines = [
        f"## Time for the same pairs relative to {first} (models interleaved in every repeat; median over median)",
        "",
        "| model | variant | implementation | median s | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        ratio = row["median_s"] / base[(row["variant"], row["implementation"])]
        lines.append(
            f"| {row['model']} | {row['variant']} | {row['implementation']} | {row['median_s']:.2f} | {ratio:.2f}x |"
        )
    return lines + [""]


def markdown(result: dict) -> list[str]:
    lines = [
        "# Reranking speed: ours vs bare LM forward vs naive",
        "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}; {result['machine']}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()),
        "",
    ]
    for model in result["models"]:
        lines += [
            f"## {model['name']} ({model['dtype']}, {model['device']}), {model['pairs']} pairs "
            f"({model['queries']} queries x {model['docs']} docs), max_length {model['max_length']}, "
            f"ours: batch {model['batch_size']}, token budget {model['token_budget']}; naive: batch "
            f"{model['naive_batch_size']}; {model['repeats']} repeats",
            "",
            "Resident set with the model loaded, before any run: "
            f"{model['rss_with_model_loaded_mib'] or float('nan'):.0f} MiB.",
            "",
            "| variant | implementation | pairs/s | tokens/s | median s | padded/real tokens | peak RSS MiB"
            + (" | peak CUDA MiB" if model["device"].startswith("cuda") else "")
            + " | TFLOP/s | MFU |",
            "| --- " * (9 + model["device"].startswith("cuda")) + "|",
        ]
        for row in model["rows"]:
            cuda = f" | {row['peak_cuda_mib']:.0f}" if model["device"].startswith("cuda") else ""
            tflops = f"{row['tflops_per_s']:.3f}" if row["tflops_per_s"] else ""
            mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] else ""
            lines.append(
                f"| {row['variant']} | {row['implementation']} | {row['pairs_per_s']:.2f} | "
                f"{row['tokens_per_s']:.0f} | {row['median_s']:.2f} | "
                f"{row['padded_tokens'] / row['real_tokens']:.2f} | {row['peak_rss_mib']:.0f}{cuda} | "
                f"{tflops} | {mfu} |"
            )
        lines += [
            "",
            "| variant | ours / bare (target >= 0.90) | ours / naive (target >= 1.5) "
            "| max abs score diff ours vs naive |",
            "| --- | --- | --- | --- |",
        ]
        for variant, ratio in model["ratios"].items():
            cells = [
                f"{ratio['ours_over_bare']:.3f}" if "ours_over_bare" in ratio else "n/a",
                f"{ratio['ours_over_naive']:.2f}x" if "ours_over_naive" in ratio else "n/a",
                f"{ratio['max_abs_score_diff']:.2g}" if ratio.get("max_abs_score_diff") is not None else "n/a",
            ]
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += cross_model_lines(result.get("interleaved", []))
    if result["selection"]:
        names = [k[:-3] for k in result["selection"][0] if k.endswith("_ms")]
        lines += [
            "## Q-PEFT-R hint selection per query (median ms; k=10)",
            "",
            "| candidates | " + " | ".join(names) + " |",
            "| --- " * (len(names) + 1) + "|",
        ]
        for row in result["selection"]:
            lines.append(f"| {row['candidates']} | " + " | ".join(f"{row[n + '_ms']:.1f}" for n in names) + " |")
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "transformers", "faiss", "pyserini"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.manual_seed(0)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    impl_names = [i.strip() for i in args.implementations.split(",") if i.strip()]
    unknown = [i for i in impl_names if i not in IMPLEMENTATIONS]
    if unknown:
        raise SystemExit(f"--implementations: unknown {unknown}; choose from {', '.join(IMPLEMENTATIONS)}")
    if args.token_budget is None:
        args.token_budget = default_token_budget(args.device, args.max_length)
    groups = load_groups(args, args.queries, args.docs)
    result = {"command": command_line(), **machine_info(args.device), "models": [], "selection": []}
    out = Path(args.out)
    models = args.model or [DEFAULT_MODEL]
    loaded = []  # (name, lm, tokenizer) of every model when several are compared
    with tqdm(total=len(models) * len(variants) * len(impl_names) * args.repeats, desc="timed runs", unit="run") as bar:
        for name in models:
            lm, tokenizer = build_lm(name, args.device, args.dtype, args.tokenizer)
            loaded_rss = current_rss_mib()
            rows = []
            for variant in variants:
                rows += measure_variant(args, lm, tokenizer, variant, groups, impl_names, bar)
            ratios = {}
            for variant in variants:
                by_impl = {r["implementation"]: r for r in rows if r["variant"] == variant}
                ratio = {}
                if "ours" in by_impl and "bare" in by_impl:
                    ratio["ours_over_bare"] = by_impl["ours"]["pairs_per_s"] / by_impl["bare"]["pairs_per_s"]
                if "ours" in by_impl and "naive" in by_impl:
                    ratio["ours_over_naive"] = by_impl["ours"]["pairs_per_s"] / by_impl["naive"]["pairs_per_s"]
                    ratio["max_abs_score_diff"] = by_impl["ours"]["max_abs_score_diff_ours_vs_naive"]
                ratios[variant] = ratio
            params = sum(p.numel() for p in lm.parameters())
            result["models"].append(
                {
                    "name": name,
                    "parameters": params,
                    "device": args.device,
                    "dtype": args.dtype,
                    "queries": len(groups),
                    "docs": args.docs,
                    "pairs": sum(len(d) for _, d in groups),
                    "max_length": args.max_length,
                    "batch_size": args.batch_size,
                    "token_budget": args.token_budget,
                    "naive_batch_size": args.naive_batch_size,
                    "repeats": args.repeats,
                    "peak_tflops": peak_flops(args),
                    "rss_with_model_loaded_mib": loaded_rss,
                    "rows": rows,
                    "ratios": ratios,
                }
            )
            if name == models[0]:
                result["selection"] = selection_curve(args, lm, tokenizer)
            if len(models) > 1:
                loaded.append((name, lm, tokenizer))
            del lm
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
        if loaded:
            result["interleaved"] = interleaved(args, loaded, variants, impl_names, groups)
    lines = markdown(result)
    write_results(out, result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
