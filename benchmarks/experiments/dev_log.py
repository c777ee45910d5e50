"""The dev log of the scale runs: every setting tried, its dev-loss curve, the BM25 weight picked on dev with the dev
nDCG@10 alone and fused, training time and checkpoint size, read from the checkpoints ``scifact_scale.sh`` and
``zeroshot_fusion.py`` wrote (finished runs; a run still training is listed from its saved state).

    .venv/bin/python benchmarks/experiments/dev_log.py --work runs/scifact-scale \
        --out benchmarks/results/scifact_dev_log
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the reusable benchmark modules
from benchlib import command_line, machine_info, write_results  # noqa: E402

SETTINGS = ("variant", "num_virtual_tokens", "num_hints", "attention_heads", "max_length")
RECIPE = ("lr", "hint_lr", "epochs", "patience", "batch_size", "negatives", "in_batch", "margin", "seed")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/scifact-scale"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scifact_dev_log"))
    return parser.parse_args(argv)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


def recipe(training_config: dict) -> dict:
    """The training flags the log shows (``hint_lr`` was ``qd_lr`` in earlier summaries)."""
    config = {"hint_lr": training_config.get("qd_lr"), **training_config}
    return {k: config.get(k) for k in RECIPE}


def fusion_row(fusion: dict | None) -> dict:
    """The picked weight with the dev nDCG@10 alone (weight 0) and at that weight."""
    if not fusion or fusion.get("weight") is None:
        return {}
    curve = fusion["dev_ndcg@10_by_weight"]
    picked = next(v for k, v in curve.items() if float(k) == fusion["weight"])
    return {"fusion_weight": fusion["weight"], "dev_ndcg@10_alone": curve["0.0"], "dev_ndcg@10_fused": picked}


def run_entry(name: str, folder: Path) -> dict | None:
    """One run's row, from its checkpoint (and its training state while it still trains)."""
    config_path = folder / "qpeft_config.json"
    if not config_path.is_file():
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    entry = {"run": name, **{k: config.get(k) for k in SETTINGS}, "checkpoint_bytes": folder_bytes(folder)}
    summary_path, fusion_path = folder / "training_summary.json", folder / "fusion_summary.json"
    state_path = folder.parent / f"{name}.train-state" / "trainer_state.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        entry.update(status="finished", recipe=recipe(summary["training_config"]))
        entry.update(train_queries=summary["train_queries"], dev_queries=summary["dev_queries"])
        entry.update(history=summary["history"], train_seconds=summary.get("train_seconds_all_runs"))
        entry.update(device=summary.get("device", "cpu"))  # summaries from before the field: this CPU
        entry.update(fusion_row(summary.get("fusion")))
    elif fusion_path.is_file():
        fusion = json.loads(fusion_path.read_text(encoding="utf-8"))
        source = fusion.get("source_checkpoint")  # a trained checkpoint whose weight was picked again
        status = f"re-fused at depth {fusion['fusion']['depth']} ({Path(source).name})" if source else "untrained"
        entry.update(status=status, dev_queries=fusion["dev_queries"], **fusion_row(fusion["fusion"]))
    elif state_path.is_file():
        state = json.loads(state_path.read_text(encoding="utf-8"))
        entry.update(status=f"training (epoch {state['epoch']}, step {state['step']})", history=state["history"])
        entry.update(recipe=recipe(state["training_config"]))
        entry.update(train_seconds=state.get("train_seconds"))
    else:
        return None
    if entry.get("history"):
        best = min(entry["history"], key=lambda h: h["dev_loss"])
        entry.update(best_epoch=best["epoch"], best_dev_loss=best["dev_loss"])
    return entry


def markdown(result: dict) -> list[str]:
    lines = [
        "# scifact scale runs: dev log",
        "",
        f"`{result['command']}`",
        "",
        f"{result['date']}; dev: 80 scifact train queries held out from training (seed 42); dev nDCG@10 reranks their",
        "BM25 top 20. Dev loss: hinge + NLL on fixed dev pairs (the early-stopping criterion).",
        "",
        "| run | variant | virtual tokens | k | lr / hint lr | status | dev loss by epoch (best) | BM25 weight | "
        "dev nDCG@10 alone / fused | trained on | training h | checkpoint KiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in result["runs"]:
        curve = " ".join(f"{h['dev_loss']:.4f}" for h in e.get("history", []))
        best = f" (epoch {e['best_epoch']})" if "best_epoch" in e else ""
        recipe = e.get("recipe") or {}
        lr = f"{recipe['lr']} / {recipe['hint_lr']}" if recipe else ""
        dev = f"{e['dev_ndcg@10_alone']:.4f} / {e['dev_ndcg@10_fused']:.4f}" if "fusion_weight" in e else ""
        hours = f"{e['train_seconds'] / 3600:.2f}" if e.get("train_seconds") else ""
        lines.append(
            f"| {e['run']} | {e['variant']} | {e['num_virtual_tokens'] if e['variant'] != 'zeroshot' else 0} | "
            f"{e['num_hints'] if e['variant'] == 'r' else ''} | {lr} | {e['status']} | {curve}{best} | "
            f"{e.get('fusion_weight', '')} | {dev} | {e.get('device', '')} | {hours} | "
            f"{e['checkpoint_bytes'] / 1024:.0f} |"
        )
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    folders = [
        p
        for root in (args.work / "checkpoints", args.work / "checkpoints-gpu")  # -gpu: from experiments/gpu_table.sh
        if root.is_dir()
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.endswith(".train-state")
    ]
    runs = [run_entry(p.name, p) for p in folders]
    result = {"command": command_line(), **machine_info(), "runs": [r for r in runs if r]}
    lines = markdown(result)
    write_results(args.out, result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
