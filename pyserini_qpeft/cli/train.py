"""``pyserini-qpeft train``: train a Q-PEFT variant on a BEIR split with BM25 hard negatives."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
import logging
import shutil
import time
from pathlib import Path

from ..atomic import atomic_write
from ..beir_data import load_qrels, load_queries, qrels_path
from ..errors import InputError
from ..model_loading import DEFAULT_MODEL
from .common import DTYPE_CHOICES, progress_bar

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser("train", help="train a Q-PEFT reranker (soft prompt + hint module)",
                            description="Train the soft prompt and QD module on a BEIR split; the LM stays frozen. "
                                        "The best model by dev loss is saved to --output.")
    parser.add_argument("--beir", required=True, metavar="DIR", help="BEIR folder with queries and qrels/<split>.tsv")
    parser.add_argument("--index", required=True, metavar="DIR", help="Lucene index of the same corpus (BM25 negatives)")
    parser.add_argument("--split", default="train", help="training split (default: train)")
    parser.add_argument("--dev-split", default="dev",
                        help="dev split for early stopping if it exists (default: dev), else --dev-fraction of the train queries")
    parser.add_argument("--dev-fraction", type=float, default=0.1, help="train queries held back for dev (default: 0.1)")
    parser.add_argument("--max-dev-queries", type=int, default=50, help="cap on dev queries (default: 50)")
    parser.add_argument("--output", required=True, metavar="DIR", help="checkpoint folder to write")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"base causal LM (default: {DEFAULT_MODEL})")
    parser.add_argument("--variant", default="r", choices=["prompt", "r", "a"], help="what to train (default: r)")
    parser.add_argument("--num-virtual-tokens", type=int, default=10, help="soft prompt length (default: 10)")
    parser.add_argument("--k", type=int, default=10, help="hint tokens per document for variant r (default: 10)")
    parser.add_argument("--heads", type=int, default=2, help="attention heads for variant a (default: 2)")
    parser.add_argument("--keep-stopwords", action="store_true", help="variant r: allow stopwords as hints")
    parser.add_argument("--keep-nonalpha", action="store_true", help="variant r: allow non-alphabetic tokens as hints")
    parser.add_argument("--hint-backend", default="auto", choices=["auto", "faiss", "torch"],
                        help="variant r: hint search (default: auto, FAISS when installed)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per pair (default: 512)")
    parser.add_argument("--max-queries", type=int, default=None, help="use only the first N training queries")
    parser.add_argument("--negative-depth", type=int, default=30, help="BM25 depth to mine hard negatives (default: 30)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-2, help="soft-prompt learning rate (default: 3e-2)")
    parser.add_argument("--qd-lr", type=float, default=1e-3, help="QD-module learning rate (default: 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--margin", type=float, default=0.5, help="hinge margin in nats (default: 0.5)")
    parser.add_argument("--batch-size", type=int, default=4, help="queries per micro-batch (default: 4)")
    parser.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step (default: 1)")
    parser.add_argument("--negatives", type=int, default=3, help="BM25 hard negatives per query and step (default: 3)")
    parser.add_argument("--in-batch", type=int, default=3, help="in-batch negatives per query and step (default: 3)")
    parser.add_argument("--patience", type=int, default=2, help="epochs without dev improvement before stopping")
    parser.add_argument("--save-every", type=int, default=20, help="optimizer steps between resumable saves")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1, help="BM25 search threads")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available)")
    parser.add_argument("--dtype", default=None, choices=DTYPE_CHOICES, metavar="DTYPE",
                        help="float32, bfloat16 or float16, or fp32/bf16/fp16 (default: float32 on CPU, bfloat16 on CUDA)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run from <output>.train-state")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint and training state")
    parser.set_defaults(handler=run)


def check_train_output(output: Path, state_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse outputs that are not ours: --output must be new, empty or a Q-PEFT checkpoint, and
    ``<output>.train-state`` new or our training state; an existing one needs --resume or --overwrite."""
    from ..checkpoint import is_checkpoint
    from ..outputs import only_names
    from ..training import OPTIMIZER_FILE, STATE_FILE

    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if output.exists() and not output.is_dir():
        raise InputError(f"--output {output}: is a file; give a folder for the checkpoint")
    ours = output.exists() and is_checkpoint(output)
    if output.is_dir() and any(output.iterdir()) and not ours:
        raise InputError(f"--output {output}: exists and is not a Q-PEFT checkpoint folder; refusing to write into it "
                         "(choose a new or empty folder)")
    if state_dir.exists() and not (only_names(state_dir, (STATE_FILE, OPTIMIZER_FILE, "last"))
                                   and (not (state_dir / "last").exists() or is_checkpoint(state_dir / "last"))):
        raise InputError(f"{state_dir}: exists and is not a pyserini-qpeft training state; refusing to touch it "
                         "(choose another --output)")
    if (ours or state_dir.exists()) and not (resume or overwrite):
        raise InputError(f"--output {output}: already holds a checkpoint; pass --resume to continue its training or "
                         "--overwrite to start over")
    if resume and not state_dir.is_dir():
        raise InputError(f"{state_dir}: no training state to resume; start without --resume")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..config import QPEFTConfig
    from ..lucene_index import document_text, open_searcher
    from ..model_loading import load_causal_lm, resolve_device
    from ..qpeft_model import QPEFTModel
    from ..training import Trainer, TrainingConfig
    from ..training_data import build_training_queries, split_dev

    output = Path(args.output)
    state_dir = Path(str(output) + ".train-state")
    check_train_output(output, state_dir, args.resume, args.overwrite)
    resolve_device(args.device, "--device")
    training = TrainingConfig(epochs=args.epochs, lr=args.lr, qd_lr=args.qd_lr, weight_decay=args.weight_decay,
                              margin=args.margin, batch_size=args.batch_size, grad_accum=args.grad_accum,
                              negatives=args.negatives, in_batch=args.in_batch, patience=args.patience,
                              seed=args.seed, save_every=args.save_every)
    config = QPEFTConfig(base_model=args.model, variant=args.variant, num_virtual_tokens=args.num_virtual_tokens,
                         k=args.k, attention_heads=args.heads, max_length=args.max_length,
                         filter_stopwords=not args.keep_stopwords, filter_nonalpha=not args.keep_nonalpha,
                         hint_backend=args.hint_backend)
    queries = load_queries(args.beir, args.split)
    if args.max_queries is not None:
        if args.max_queries < 2:
            raise InputError(f"--max-queries must be at least 2, got {args.max_queries}")
        queries = dict(list(queries.items())[: args.max_queries])
    qrels = load_qrels(qrels_path(args.beir, args.split))
    searcher = open_searcher(args.index)
    with progress_bar(args, total=len(queries), desc="bm25 negatives", unit="query") as bar:
        examples = build_training_queries(queries, qrels, searcher, depth=args.negative_depth, threads=args.threads,
                                          progress=bar.update)
    dev_file = Path(args.beir) / "qrels" / f"{args.dev_split}.tsv"
    if dev_file.is_file():
        dev_qrels = load_qrels(dev_file)
        dev_queries = dict(list(load_queries(args.beir, args.dev_split).items())[: args.max_dev_queries])
        dev = build_training_queries(dev_queries, dev_qrels, searcher, depth=args.negative_depth, threads=args.threads)
        qrels = {**qrels, **dev_qrels}
        train = examples
    else:
        train, dev = split_dev(examples, args.dev_fraction, args.seed, args.max_dev_queries)
    logger.info("%d training queries, %d dev queries (%s)", len(train), len(dev),
                dev_file.name if dev_file.is_file() else f"{args.dev_fraction:.0%} held back")

    torch.manual_seed(args.seed)
    lm, tokenizer = load_causal_lm(args.model, device=args.device, dtype=args.dtype)
    model = QPEFTModel(lm, tokenizer, config)
    sizes = {name: p.numel() for name, p in model.trainable_parameters().items()}
    logger.info("trainable parameters: %d (%s)", sum(sizes.values()), ", ".join(f"{k}={v}" for k, v in sizes.items()))

    cache: dict = {}

    def doc_text(docid: str) -> str:
        if docid not in cache:
            cache[docid] = document_text(searcher, docid)
        return cache[docid]

    trainer = Trainer(model, training, train, dev, qrels, doc_text, output)
    if args.overwrite and state_dir.exists():
        shutil.rmtree(state_dir)  # proven ours by check_train_output; the checkpoint's files are replaced by saving
    if args.resume:
        trainer.resume()
    started = time.time()
    total = training.epochs * trainer.steps_per_epoch
    done = trainer.state["epoch"] * trainer.steps_per_epoch + trainer.state["step"]
    with progress_bar(args, total=total, initial=done, desc=f"train {args.variant}", unit="step") as bar:
        def on_step(step: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", epoch=trainer.state["epoch"] + 1)

        state = trainer.fit(on_step=on_step)
    summary = {
        "variant": args.variant,
        "base_model": args.model,
        "train_queries": len(train),
        "dev_queries": len(dev),
        "trainable_parameters": sum(sizes.values()),
        "trainable_parameters_by_tensor": sizes,
        "wall_seconds_this_run": round(time.time() - started, 1),
        "history": state["history"],
        "best_dev_loss": state["best_dev"],
        "training_config": asdict(training),
    }
    with atomic_write(output / "training_summary.json") as handle:
        json.dump(summary, handle, indent=2)
    logger.info("best dev loss %.4f; checkpoint in %s", state["best_dev"], output)
    return 0
