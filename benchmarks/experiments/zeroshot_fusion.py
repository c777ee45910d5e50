"""Zero-shot + BM25 fusion as a checkpoint: the bare default LM (no trained parts) with the BM25 fusion weight
picked on the very dev queries the scale runs hold back (``benchmarks/experiments/scifact_scale.sh``: the first 400
scifact train queries, 20% held back with seed 42, at most 80). The folder it writes loads like any checkpoint, so it
can be compared with the trained ones in and out of domain and shipped as a preset. With ``--checkpoint C`` it copies
a trained checkpoint instead and picks its weight again (at another ``--depth``, say: the top 100). With
``--first-stage-run`` (the BM25 run of those train queries, deep enough for ``--depth``) it needs no index nor Java.

    .venv/bin/python benchmarks/experiments/zeroshot_fusion.py --beir ../shared/data/scifact \
        --index runs/scifact-scale/index --output runs/scifact-scale/checkpoints/zeroshot-fused
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from pyserini_qpeft.model.card import write_card
from pyserini_qpeft.model.checkpoint import load_checkpoint, save_checkpoint
from pyserini_qpeft.model.config import DEFAULT_MODEL, QPEFTConfig
from pyserini_qpeft.model.loading import load_causal_lm
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.training.fusion_weight import pick_checkpoint_fusion
from pyserini_qpeft.training.queries import QuerySelection, choose_training_queries, open_first_stage

from train_split import add_selection_flags


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--beir", required=True)
    first_stage = parser.add_mutually_exclusive_group(required=True)
    first_stage.add_argument("--index")
    first_stage.add_argument("--first-stage-run", help="instead of --index (see train --first-stage-run)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--checkpoint", help="a trained checkpoint to copy and re-fuse (default: the bare --model)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--quiet", action="store_true")
    add_selection_flags(parser, max_queries=400, dev_fraction=0.2, max_dev_queries=80)  # scifact_scale.sh's
    parser.add_argument("--depth", type=int, default=20, help="BM25 depth reranked on dev")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--dtype", default="auto")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.time()
    selection = QuerySelection.from_args(args)
    searcher = open_first_stage(selection, args.index, args.first_stage_run)
    _, dev, qrels = choose_training_queries(selection, searcher)  # the dev queries `train` holds back
    if args.checkpoint:
        config = QPEFTConfig.load(args.checkpoint)
        lm, tokenizer = load_causal_lm(config.base_model, device=args.device, dtype=args.dtype)
        model = load_checkpoint(args.checkpoint, lm, tokenizer)
    else:
        lm, tokenizer = load_causal_lm(args.model, device=args.device, dtype=args.dtype)
        config = QPEFTConfig(base_model=args.model, variant="zeroshot", max_length=args.max_length)
        model = QPEFTModel(lm, tokenizer, config)
    save_checkpoint(model, args.output)
    with tqdm(total=len(dev), desc="dev fusion", unit="query", mininterval=60, disable=args.quiet) as bar:
        weight, curve = pick_checkpoint_fusion(
            args.output,
            lm,
            tokenizer,
            searcher,
            {q.qid: q.text for q in dev},
            {q.qid: qrels[q.qid] for q in dev},
            depth=args.depth,
            on_query=lambda *_: bar.update(1),
        )
    summary = {
        "variant": model.config.variant,
        "base_model": model.config.base_model,
        "source_checkpoint": args.checkpoint,
        "dev_queries": len(dev),
        "dev_qids": [q.qid for q in dev],
        "fusion": {"weight": weight, "depth": args.depth, "dev_ndcg@10_by_weight": curve},
        "wall_seconds": round(time.time() - started, 1),
    }
    (args.output / "fusion_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    write_card(args.output, QPEFTConfig.load(args.output))
    print(json.dumps({k: v for k, v in summary.items() if k != "dev_qids"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
