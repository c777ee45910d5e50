"""``pyserini-qpeft train``: train a Q-PEFT variant on a BEIR split with BM25 hard negatives."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

from pyserini_qpeft.cli.common import add_options, options_from_args, progress_bar
from pyserini_qpeft.cli.pipeline_file import RerankerOptions
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.model.card import write_card
from pyserini_qpeft.model.config import QPEFTConfig, TrainingConfig
from pyserini_qpeft.model.loading import dtype_name
from pyserini_qpeft.model.variants import trainable_variants
from pyserini_qpeft.training.queries import QuerySelection, choose_training_queries, open_first_stage

logger = logging.getLogger(__name__)

# Where ``train`` differs from QPEFTConfig's defaults: it trains Q-PEFT-R unless told, and only trainable variants.
TRAIN_MODEL = {"variant": {"default": "r", "choices": trainable_variants()}}


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "train",
        help="train a Q-PEFT reranker (soft prompt + hint module)",
        description="Train the soft prompt and hint module on a BEIR split; the LM stays frozen. "
        "The best model by dev loss is saved to --output.",
    )
    parser.add_argument("--beir", required=True, metavar="DIR", help="BEIR folder with queries and qrels/<split>.tsv")
    first_stage = parser.add_mutually_exclusive_group(required=True)
    first_stage.add_argument("--index", metavar="DIR", help="Lucene index of the same corpus (BM25 negatives)")
    first_stage.add_argument(
        "--first-stage-run",
        metavar="FILE",
        help="instead of --index: a TREC run of the training (and dev) queries, e.g. `search --split train --hits "
        "30`; negatives and the dev fusion candidates come from it, texts from --beir's corpus (no Java needed)",
    )
    add_options(parser, QuerySelection)
    parser.add_argument(
        "--fusion-depth",
        type=int,
        default=20,
        metavar="N",
        help="after training, rerank the dev queries' BM25 top N and save the BM25 fusion weight with the best "
        "dev nDCG@10 in the checkpoint (0: pick none) (default: 20)",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="checkpoint folder to write")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from <output>.train-state")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint and training state")
    add_options(parser.add_argument_group("model (QPEFTConfig)"), QPEFTConfig, changes=TRAIN_MODEL)
    add_options(parser.add_argument_group("optimisation (TrainingConfig)"), TrainingConfig)
    add_options(parser.add_argument_group("hardware"), RerankerOptions, names=("device", "dtype"))
    parser.set_defaults(handler=run)


def check_train_output(output: Path, state_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse outputs that are not ours: --output must be new, empty or a Q-PEFT checkpoint, and
    ``<output>.train-state`` new or our training state; an existing one needs --resume or --overwrite."""
    from pyserini_qpeft.files.guards import check_writable_target
    from pyserini_qpeft.model.checkpoint import is_checkpoint
    from pyserini_qpeft.training.state import is_training_state

    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output}: is a file; give a folder for the checkpoint")
    ours = output.exists() and is_checkpoint(output)
    if output.is_dir() and any(output.iterdir()) and not ours:
        raise InputError(
            f"--output {output}: exists and is not a Q-PEFT checkpoint folder; refusing to write into it "
            "(choose a new or empty folder)"
        )
    if state_dir.exists() and not (state_dir.is_dir() and is_training_state(state_dir)):
        raise InputError(
            f"{state_dir}: exists and is not a pyserini-qpeft training state; refusing to touch it "
            "(choose another --output)"
        )
    if (ours or state_dir.exists()) and not (resume or overwrite):
        raise InputError(
            f"--output {output}: already holds a checkpoint or training state; pass --resume to continue its "
            "training or --overwrite to start over"
        )
    if resume and not state_dir.is_dir():
        raise InputError(f"{state_dir}: no training state to resume; start without --resume")
    for path in (output, state_dir):  # before any model loads
        writable = path if path.is_dir() else path.parent
        if writable.exists() and not os.access(writable, os.W_OK | os.X_OK):
            raise InputError(f"--output {output}: cannot write in {writable} (permission denied); choose another path")
        if not writable.exists():
            check_writable_target(writable / "x", "--output")


def publish(scratch: Path, output: Path, lm, tokenizer) -> None:
    """Put the finished checkpoint assembled in ``scratch`` at ``output``: renamed into place when ``output`` is
    new or empty (so no checkpoint appears before the run has finished); over an earlier checkpoint of ours, its
    files are replaced one by one (the config's checksums first) and other files are left alone."""
    from pyserini_qpeft.files.atomic import fsync_dir, io_event
    from pyserini_qpeft.model.checkpoint import load_checkpoint, save_checkpoint

    if not output.exists() or (output.is_dir() and not any(output.iterdir())):
        output.parent.mkdir(parents=True, exist_ok=True)
        io_event("rename", output)
        os.replace(scratch, output)
        fsync_dir(output.parent)
        return
    save_checkpoint(load_checkpoint(scratch, lm, tokenizer), output)
    for name in ("training_summary.json", "README.md"):
        if (scratch / name).is_file():
            with atomic_write(output / name, "wb") as handle:
                handle.write((scratch / name).read_bytes())
    shutil.rmtree(scratch)


def pick_fusion(args, output: Path, lm, tokenizer, searcher, dev, qrels) -> dict:
    """Pick and save the checkpoint's BM25 fusion weight on the dev queries; what was picked, for the summary."""
    from pyserini_qpeft.training.fusion_weight import pick_checkpoint_fusion

    queries = {q.qid: q.text for q in dev}
    dev_qrels = {q.qid: qrels[q.qid] for q in dev if q.qid in qrels}
    with progress_bar(args, total=len(queries), desc="dev fusion", unit="query") as bar:
        weight, curve = pick_checkpoint_fusion(
            output,
            lm,
            tokenizer,
            searcher,
            queries,
            dev_qrels,
            depth=args.fusion_depth,
            on_query=lambda *_: bar.update(1),
        )
    return {"weight": weight, "depth": args.fusion_depth, "dev_queries": len(queries), "dev_ndcg@10_by_weight": curve}


def run(args: argparse.Namespace) -> int:
    from pyserini_qpeft.files.lock import output_lock
    from pyserini_qpeft.runs import distributed

    world = distributed.world_from_env()
    output = Path(args.output)
    with output_lock(output, world.rank, world.size):  # one run per --output; a second is refused with our pid
        return _train(args, output, world)


def _train(args: argparse.Namespace, output: Path, world) -> int:
    import torch

    from pyserini_qpeft.lucene.index import document_text
    from pyserini_qpeft.model.loading import load_causal_lm, resolve_device
    from pyserini_qpeft.model.qpeft_model import QPEFTModel
    from pyserini_qpeft.runs import distributed
    from pyserini_qpeft.training.loop import Trainer, state_dir
    from pyserini_qpeft.training.queries import check_judged_documents
    from pyserini_qpeft.training.state import PUBLISH

    state = state_dir(output)
    check_train_output(output, state, args.resume, args.overwrite)
    if args.fusion_depth < 0:
        raise InputError(f"--fusion-depth must be 0 (no fusion weight) or more, got {args.fusion_depth}")
    resolve_device(args.device, "--device")
    training = options_from_args(TrainingConfig, args)
    config = options_from_args(QPEFTConfig, args)
    selection = QuerySelection.from_args(args, seed=training.seed)
    searcher = open_first_stage(selection, args.index, args.first_stage_run)
    with progress_bar(args, total=None, desc="bm25 negatives", unit="query") as bar:
        train, dev, qrels = choose_training_queries(selection, searcher, progress=bar)
    cache: dict = {}

    def doc_text(docid: str) -> str:
        if docid not in cache:
            cache[docid] = document_text(searcher, docid)
        return cache[docid]

    check_judged_documents(selection, train + dev, doc_text)  # the texts stay cached for training

    torch.manual_seed(training.seed)
    lm, tokenizer = load_causal_lm(config.base_model, device=distributed.rank_device(args.device), dtype=args.dtype)
    model = QPEFTModel(lm, tokenizer, config)
    sizes = {name: p.numel() for name, p in model.trainable_parameters().items()}
    logger.info("trainable parameters: %d (%s)", sum(sizes.values()), ", ".join(f"{k}={v}" for k, v in sizes.items()))

    chosen = selection.model_dump(exclude={"threads"})  # what decides the queries; a resume must match it
    trainer = Trainer(model, training, train, dev, qrels, doc_text, output, world=world, settings=chosen)
    if world.distributed:
        logger.info("%d processes x batch %d = global batch %d", world.size, training.batch_size, trainer.global_batch)
    if args.overwrite and state.exists() and world.is_main:
        shutil.rmtree(state)  # proven ours by check_train_output; the old checkpoint stays until the new one is done
    distributed.barrier(world)
    if args.resume:
        trainer.resume()
    started = time.time()
    total = training.epochs * trainer.steps_per_epoch
    done = trainer.state["epoch"] * trainer.steps_per_epoch + trainer.state["step"]
    with progress_bar(args, total=total, initial=done, desc=f"train {config.variant}", unit="step") as bar:

        def on_step(step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", epoch=trainer.state["epoch"] + 1)

        result = trainer.fit(on_step=on_step)
    scratch = state / PUBLISH  # the checkpoint is assembled here, then published whole
    if world.is_main:
        if scratch.exists():
            shutil.rmtree(scratch)  # left by a killed run: ours
        shutil.copytree(trainer.best_dir, scratch)
    distributed.barrier(world)
    fusion = None
    if args.fusion_depth > 0:
        fusion = pick_fusion(args, scratch, lm, tokenizer, searcher, dev, qrels)
    if not world.is_main:
        return 0
    summary = {
        "variant": config.variant,
        "base_model": config.base_model,
        "train_queries": len(train),
        "dev_queries": len(dev),
        "trainable_parameters": sum(sizes.values()),
        "trainable_parameters_by_tensor": sizes,
        "wall_seconds_this_run": round(time.time() - started, 1),
        "train_seconds_all_runs": round(result.get("train_seconds", 0.0), 1),
        "history": result["history"],
        "best_dev_loss": result["best_dev"],
        "training_config": training.model_dump(),
        "first_stage": {"index": str(args.index)} if args.index else {"run": str(args.first_stage_run)},
        "device": str(model.device),
        "dtype": dtype_name(lm.dtype),
        "processes": world.size,
        "global_batch_size": trainer.global_batch,
        "fusion": fusion,
    }
    with atomic_write(scratch / "training_summary.json") as handle:
        json.dump(summary, handle, indent=2)
    write_card(scratch, QPEFTConfig.load(scratch))
    publish(scratch, output, lm, tokenizer)
    logger.info("best dev loss %.4f; checkpoint in %s", result["best_dev"], output)
    return 0
