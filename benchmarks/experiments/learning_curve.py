"""The learning curve: scifact test nDCG@10 (alone and fused with BM25) against the number of training queries.

Reads a ``bench_table.py`` result whose systems are named ``VARIANT-N`` (N training queries) or ``VARIANT`` (the
full run, ``--full`` queries), and the checkpoints' training summaries (the checkpoint a row names, else
``--checkpoints``/``lc-VARIANT-N/``) for the dev figures and training times; writes ``results.json``,
``results.md`` and ``curve.png`` to ``--out``.

    python benchmarks/experiments/learning_curve.py --table benchmarks/results/learning_curve/table/results.json \\
        --checkpoints runs/adaptation/checkpoints --out benchmarks/results/learning_curve
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the reusable benchmark modules
from benchlib import command_line, format_p, write_results  # noqa: E402
from dev_log import fusion_row  # noqa: E402

POINT = re.compile(r"(?P<variant>[a-z]+)(?:-(?P<queries>\d+))?")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, required=True, help="bench_table.py's results.json")
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of the lc-VARIANT-N checkpoints")
    parser.add_argument("--full", type=int, default=320, help="training queries of the systems named VARIANT")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/learning_curve"))
    return parser.parse_args(argv)


def _summary(row: dict, checkpoints: Path | None, variant: str, queries: int) -> dict:
    """The training summary of a point's checkpoint: the one its table row names, else ``lc-VARIANT-N``."""
    paths = [Path(row["model"]) / "training_summary.json"] if row.get("model") else []
    if checkpoints:
        paths.append(checkpoints / f"lc-{variant}-{queries}" / "training_summary.json")
    return next((json.loads(path.read_text()) for path in paths if path.is_file()), {})


def _train_hours(summary: dict) -> float | None:
    """Training wall time over all resumed runs (older summaries: their one run's)."""
    seconds = summary.get("train_seconds_all_runs", summary.get("wall_seconds_this_run"))
    return None if seconds is None else round(seconds / 3600, 2)


def curve(table: dict, full: int, checkpoints: Path | None = None) -> dict[str, list[dict]]:
    """variant -> its points, by training queries: nDCG@10 alone and fused, p against BM25, dev and time figures."""
    points: dict[str, list[dict]] = {}
    for name, row in table.items():
        match = POINT.fullmatch(name)
        if name == "bm25" or match is None:
            continue
        variant, queries = match["variant"], int(match["queries"] or full)
        fused = table.get(f"{name}+bm25")
        summary = _summary(row, checkpoints, variant, queries)
        dev = fusion_row(summary.get("fusion"))
        point = {
            "system": name,
            "train_queries": queries,
            "ndcg@10": row["nDCG@10"]["mean"],
            "ci": row["nDCG@10"]["ci"],
            "p_vs_bm25": row["nDCG@10"]["vs_bm25"]["p"],
            "fused_ndcg@10": fused["nDCG@10"]["mean"] if fused else None,
            "fused_ci": fused["nDCG@10"]["ci"] if fused else None,
            "fused_p_vs_bm25": fused["nDCG@10"]["vs_bm25"]["p"] if fused else None,
            "fusion_weight": fused.get("fusion_weight") if fused else None,
            "best_dev_loss": summary.get("best_dev_loss"),
            "epochs_run": len(summary.get("history", [])) - 1 if summary.get("history") else None,
            "dev_ndcg@10_alone": dev.get("dev_ndcg@10_alone"),
            "dev_ndcg@10_fused": dev.get("dev_ndcg@10_fused"),
            "train_hours": _train_hours(summary),
        }
        points.setdefault(variant, []).append(point)
    return {variant: sorted(found, key=lambda p: p["train_queries"]) for variant, found in points.items()}


def _value(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _dev(point: dict) -> str:
    if point["dev_ndcg@10_alone"] is None:
        return ""
    return f"{point['dev_ndcg@10_alone']:.4f} / {point['dev_ndcg@10_fused']:.4f}"


def markdown(result: dict) -> list[str]:
    bm25 = result["bm25_ndcg@10"]
    lines = [
        "# Learning curve on scifact",
        "",
        f"`{result['command']}`",
        "",
        f"scifact test, all {result['queries']} queries, BM25 top {result['depth']} reranked; BM25 alone "
        f"{bm25:.4f}. Every point shares its 80 dev queries (held-out scifact train queries) and its settings; "
        "only the number of training queries changes. p: paired t-test against BM25 over the test queries. "
        "The dev figures (BM25 top 20) chose the epoch and the BM25 weight w; the test figures chose nothing.",
        "",
        "| variant | training queries | nDCG@10 alone [95% CI] | p | fused (w) | p | best dev loss | "
        "dev nDCG@10 alone / fused | epochs | h |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for variant, points in result["curve"].items():
        for p in points:
            fused = ""
            if p["fused_ndcg@10"] is not None:
                fused = f"{p['fused_ndcg@10']:.4f} ({p['fusion_weight']:.2f})"
            lines.append(
                f"| {variant} | {p['train_queries']} | {p['ndcg@10']:.4f} [{p['ci'][0]:.4f}, {p['ci'][1]:.4f}] | "
                f"{format_p(p['p_vs_bm25'])} | {fused} | {format_p(p['fused_p_vs_bm25'])} | "
                f"{_value(p['best_dev_loss'])} | {_dev(p)} | "
                f"{p['epochs_run'] if p['epochs_run'] is not None else ''} | {_value(p['train_hours'], 2)} |"
            )
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    source = json.loads(args.table.read_text())
    result = {
        "command": command_line(),
        "date": source["date"],
        "machine": source["machine"],
        "table": str(args.table),
        "queries": source["queries"],
        "depth": source["depth"],
        "bm25_ndcg@10": source["table"]["bm25"]["nDCG@10"]["mean"],
        "curve": curve(source["table"], args.full, args.checkpoints),
    }
    lines = markdown(result)
    write_results(args.out, result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
