"""PNG plots of the benchmark results (matplotlib, no display needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path: Path) -> None:
    """Lay out, write as PNG and close."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def quality_plot(result: dict, path: Path) -> None:
    """nDCG@10 per system, with the BM25-interpolated figure beside each reranker."""
    names = list(result["systems"])
    plain = [result["systems"][n]["nDCG@10"] for n in names]
    fused = [result["systems"][n].get("interpolation", {}).get("nDCG@10") for n in names]
    fig, ax = plt.subplots(figsize=(7, 4))
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], plain, width=0.4, label="reranker alone (BM25: first stage)")
    if any(v is not None for v in fused):
        ax.bar(
            [p + 0.2 for p, v in zip(positions, fused) if v is not None],
            [v for v in fused if v is not None],
            width=0.4,
            label="BM25 + reranker interpolation",
        )
    ax.axhline(result["systems"]["bm25"]["nDCG@10"], color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(list(positions), names)
    ax.set_ylabel("nDCG@10")
    low = min(v for v in plain + [v for v in fused if v is not None])
    ax.set_ylim(max(0.0, low - 0.05), None)
    ax.set_title(f"{result['split']}: first {result['queries']} queries, top {result['depth']} reranked")
    ax.legend(loc="lower right", fontsize=8)
    save(fig, path)


def table_plot(result: dict, path: Path) -> None:
    """nDCG@10 with its 95% confidence interval for every system of the full table."""
    names = list(result["table"])
    means = [result["table"][n]["nDCG@10"]["mean"] for n in names]
    lows = [m - result["table"][n]["nDCG@10"]["ci"][0] for n, m in zip(names, means)]
    highs = [result["table"][n]["nDCG@10"]["ci"][1] - m for n, m in zip(names, means)]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 4))
    colors = ["tab:orange" if n.endswith("+bm25") else "tab:blue" for n in names]
    ax.bar(range(len(names)), means, yerr=[lows, highs], capsize=3, color=colors)
    ax.axhline(means[names.index("bm25")], color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10 (95% CI)")
    ax.set_ylim(max(0.0, min(m - lo for m, lo in zip(means, lows)) - 0.05), None)
    ax.set_title(f"{result['split']}: {result['queries']} queries, top {result['depth']} reranked (orange: + BM25)")
    save(fig, path)


def learning_curve_plot(result: dict, path: Path) -> None:
    """Test nDCG@10 (95% CI) against the number of training queries, alone and fused, with BM25 as a line."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for variant, points in result["curve"].items():
        xs = [p["train_queries"] for p in points]
        for key, style in (("ndcg@10", "-"), ("fused_ndcg@10", "--")):
            shown = [(x, p) for x, p in zip(xs, points) if p[key] is not None]
            if not shown:
                continue
            ci = "ci" if key == "ndcg@10" else "fused_ci"
            ys = [p[key] for _, p in shown]
            errors = [[y - p[ci][0] for y, (_, p) in zip(ys, shown)], [p[ci][1] - y for y, (_, p) in zip(ys, shown)]]
            label = f"{variant} {'alone' if key == 'ndcg@10' else '+ BM25'}"
            ax.errorbar([x for x, _ in shown], ys, yerr=errors, linestyle=style, marker="o", capsize=3, label=label)
    ax.axhline(result["bm25_ndcg@10"], color="grey", linestyle=":", linewidth=1, label="BM25")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training queries")
    ax.set_ylabel("test nDCG@10 (95% CI)")
    ax.set_title(f"scifact test ({result['queries']} queries, top {result['depth']}): learning curve")
    ax.legend(fontsize=8)
    save(fig, path)


def dev_curve_plot(result: dict, path: Path) -> None:
    """Dev loss by epoch for every trained run of a dev log."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in result["runs"]:
        if run.get("history"):
            ax.plot(
                [h["epoch"] for h in run["history"]],
                [h["dev_loss"] for h in run["history"]],
                marker="o",
                label=run["run"],
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev loss")
    ax.set_title("dev loss by epoch (early stopping keeps the lowest)")
    ax.legend(fontsize=8)
    save(fig, path)


def ablation_plot(result: dict, path: Path) -> None:
    """nDCG@10 (95% CI) of each hint setting, grouped by checkpoint."""
    labels, means, errors = [], [], [[], []]
    for name, model in result["ablation"].items():
        for setting, row in model["settings"].items():
            labels.append(f"{name}: {setting}")
            means.append(row["nDCG@10"])
            errors[0].append(row["nDCG@10"] - row["ci"][0])
            errors[1].append(row["ci"][1] - row["nDCG@10"])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4))
    ax.bar(range(len(labels)), means, yerr=errors, capsize=3)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10 (95% CI)")
    ax.set_title(f"Hints at inference: {result['queries']} queries, top {result['depth']}")
    save(fig, path)


def speed_plot(result: dict, path: Path) -> None:
    """Pairs per second of each implementation, grouped by variant, one panel per model."""
    models = result["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = model["rows"]
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        impls = list(dict.fromkeys(r["implementation"] for r in rows))
        width = 0.8 / len(impls)
        for i, impl in enumerate(impls):
            values = [
                next((r["pairs_per_s"] for r in rows if r["variant"] == v and r["implementation"] == impl), 0)
                for v in variants
            ]
            ax.bar([j - 0.4 + width * (i + 0.5) for j in range(len(variants))], values, width=width, label=impl)
        ax.set_xticks(range(len(variants)), variants)
        ax.set_ylabel("pairs / s (median)")
        ax.set_title(
            f"{model['name']} ({model['dtype']}, {model['device']}, max_length {model['max_length']})", fontsize=9
        )
        ax.legend(fontsize=8)
    save(fig, path)


def selection_plot(result: dict, path: Path) -> None:
    """Q-PEFT-R hint selection time per query against the candidate count (log-log)."""
    rows = result["selection"]
    counts = [r["candidates"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in [k[:-3] for k in rows[0] if k.endswith("_ms")]:
        ax.plot(counts, [r[f"{name}_ms"] for r in rows], marker="o", label=name.replace("_", " "))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("candidate documents per query")
    ax.set_ylabel("ms per query (median)")
    ax.set_title("Q-PEFT-R hint selection (k=10)")
    ax.legend(fontsize=8)
    save(fig, path)


def scale_plot(result: dict, path: Path) -> None:
    """Hours to rerank each collection at depth 100 against the number of GPUs (log-log)."""
    rows = result["scale"]["rows"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(row["collection"] for row in rows):
        mine = [row for row in rows if row["collection"] == name and row["gpus"] > 0]
        ax.plot([r["gpus"] for r in mine], [r["hours"] for r in mine], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("GPUs")
    ax.set_ylabel("hours (model)")
    ax.set_title(f"Depth-100 reranking, {result['scale']['gpu_pairs_per_s']:.0f} pairs/s per GPU")
    ax.legend(fontsize=7)
    save(fig, path)


def plot_results(folder: Path) -> None:
    """(Re)draw the plots of a results folder from its results.json."""
    folder = Path(folder)
    result = json.loads((folder / "results.json").read_text())
    if "dtypes" in result:
        return  # a two-row table needs no plot
    if "curve" in result:
        learning_curve_plot(result, folder / "curve.png")
        return
    if "scale" in result:
        scale_plot(result, folder / "scale.png")
    elif "table" in result:
        table_plot(result, folder / "ndcg.png")
    elif "runs" in result:
        dev_curve_plot(result, folder / "dev_loss.png")
    elif "ablation" in result:
        ablation_plot(result, folder / "ndcg.png")
    elif "models" in result:
        speed_plot(result, folder / "throughput.png")
        if result.get("selection"):
            selection_plot(result, folder / "selection.png")
    else:
        quality_plot(result, folder / "ndcg.png")


if __name__ == "__main__":
    for argument in sys.argv[1:] or ["benchmarks/results/speed_cpu", "benchmarks/results/scifact_quality"]:
        plot_results(Path(argument))
