"""Ship a trained checkpoint as a package preset, ``pyserini_qpeft/presets/NAME``, with a model card that carries
its test table (rows of ``bench_table.py`` results: BM25, the system alone and fused) and the out-of-domain check.

The checkpoint is loaded and written again with ``QPEFTReranker.save_pretrained`` (config, trainable weights,
model card); its ``training_summary.json`` is copied beside them so the card states the recipe.

    .venv/bin/python benchmarks/experiments/ship_preset.py --checkpoint runs/scifact-scale/checkpoints/a-v10 \
        --name scifact-a --system a --table benchmarks/results/scifact_table/results.json \
        --ood benchmarks/results/trecdl_ood/results.json --recipe "benchmarks/experiments/scifact_scale.sh, run a-v10"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the reusable benchmark modules
from bench_table import markdown  # noqa: E402

PRESETS = Path(__file__).resolve().parents[2] / "pyserini_qpeft" / "presets"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="trained checkpoint folder")
    parser.add_argument("--name", required=True, help="preset name (a folder under pyserini_qpeft/presets)")
    parser.add_argument("--system", required=True, help="the checkpoint's row name in the tables")
    parser.add_argument("--table", type=Path, required=True, help="bench_table.py results.json (test set)")
    parser.add_argument("--ood", type=Path, action="append", default=[], help="more results.json (other collections)")
    parser.add_argument("--compare", action="append", default=["zeroshot"], help="more rows to show (zeroshot always)")
    parser.add_argument("--recipe", default="", help="one line: how the checkpoint was trained")
    parser.add_argument("--root", type=Path, default=PRESETS, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def table_rows(path: Path, system: str, compare: list[str]) -> list[str]:
    """The Markdown table of ``path`` cut to BM25, ``system`` and ``compare``, each alone and fused."""
    result = json.loads(path.read_text(encoding="utf-8"))
    keep = ["bm25"] + [n for base in [*compare, system] for n in (base, f"{base}+bm25")]
    rows = {name: result["table"][name] for name in keep if name in result["table"]}
    if system not in rows:
        raise SystemExit(f"{path}: no row {system!r} (rows: {', '.join(result['table'])})")
    return markdown({**result, "table": rows})


def card_text(args) -> str:
    """The results part of the model card."""
    lines = ["## Results", ""]
    if args.recipe:
        lines += [f"Trained with {args.recipe}.", ""]
    for path in [args.table, *args.ood]:
        section = table_rows(path, args.system, args.compare)
        lines += ["#" + section[0], *section[1:], ""]
    name = args.name
    lines += [
        f"Use: `QPEFTReranker.from_pretrained({name!r})`, `--model {name}`, or YAML `reranker.model: {name}`.",
        "Hits that carry first-stage scores are fused at the checkpoint's weight unless told otherwise "
        "(`--fusion-weight`, `--no-fusion`).",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    from pyserini_qpeft import QPEFTReranker
    from pyserini_qpeft.model.checkpoint import is_checkpoint

    target = args.root / args.name
    if target.exists() and not is_checkpoint(target):
        raise SystemExit(f"{target}: exists and is not a checkpoint; not touching it")
    extra = card_text(args)
    reranker = QPEFTReranker.from_pretrained(str(args.checkpoint))
    target.mkdir(parents=True, exist_ok=True)
    summary = args.checkpoint / "training_summary.json"
    if summary.is_file():
        shutil.copyfile(summary, target / summary.name)
    reranker.save_pretrained(str(target), model_card=extra)
    print(f"preset {args.name}: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
