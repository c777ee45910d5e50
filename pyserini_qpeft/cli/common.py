"""Arguments and helpers shared by several subcommands."""

from __future__ import annotations

import argparse
import logging
from typing import Any, Dict, Optional

from ..beir_data import load_queries, load_topics
from ..errors import InputError

# Names --dtype accepts (pyserini_qpeft.model_loading.resolve_dtype reads them all).
DTYPE_CHOICES = ["float32", "bfloat16", "float16", "fp32", "bf16", "fp16", "float", "half"]


def progress_bar(args: argparse.Namespace, **kwargs):
    """A tqdm bar, silent with --quiet."""
    from tqdm.auto import tqdm

    return tqdm(disable=bool(getattr(args, "quiet", False)), dynamic_ncols=True, **kwargs)


def add_topic_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("queries (one of)")
    group.add_argument("--beir", metavar="DIR", help="BEIR folder whose queries.jsonl and qrels/<split>.tsv give the topics")
    group.add_argument("--split", default="test", help="BEIR split whose judged queries are used (default: test)")
    group.add_argument("--topics", metavar="FILE", help="topics file with 'qid<TAB>query' lines")
    group.add_argument("--max-queries", type=int, metavar="N", help="use only the first N topics")


def load_topic_args(args: argparse.Namespace) -> Dict[str, str]:
    """The queries named by --beir/--split or --topics, cut to --max-queries."""
    if bool(args.beir) == bool(args.topics):
        raise InputError("give exactly one of --beir DIR (with --split) or --topics FILE")
    queries = load_queries(args.beir, args.split) if args.beir else load_topics(args.topics)
    if args.max_queries is not None:
        if args.max_queries < 1:
            raise InputError(f"--max-queries must be at least 1, got {args.max_queries}")
        queries = dict(list(queries.items())[: args.max_queries])
    return queries


def add_model_args(parser: argparse.ArgumentParser, flag: str = "--model", required: bool = True) -> None:
    group = parser.add_argument_group("reranker")
    group.add_argument(flag, metavar="MODEL", required=required, default=None,
                       help="causal LM id or folder, or a saved Q-PEFT checkpoint folder")
    group.add_argument("--rerank-depth", "--depth", dest="depth", type=int, default=None, metavar="N",
                       help="rerank only the top N hits of each query (default: all)")
    group.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass (default: 32)")
    group.add_argument("--token-budget", type=int, default=None,
                       help="padded tokens per forward pass (default: 2048 on CPU, 8192 on GPU)")
    group.add_argument("--max-length", type=int, default=None,
                       help="tokens per pair; documents are cut to fit (default: the checkpoint's, else 512)")
    group.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: cuda if available, else cpu)")
    group.add_argument("--dtype", default=None, choices=DTYPE_CHOICES, metavar="DTYPE",
                       help="float32, bfloat16 or float16, or fp32/bf16/fp16 (default: float32 on CPU, bfloat16 on CUDA)")


def load_reranker(args: argparse.Namespace, model: Optional[str]):
    """A QPEFTReranker from the reranker arguments."""
    if args.depth is not None and args.depth < 1:
        raise InputError(f"--rerank-depth must be at least 1, got {args.depth}")
    from ..model_loading import resolve_device
    from ..reranker import QPEFTReranker

    resolve_device(args.device, "--device")  # named as the user typed it

    logging.getLogger(__name__).info("loading reranker %s", model)
    return QPEFTReranker.from_pretrained(model, device=args.device, dtype=args.dtype, max_length=args.max_length,
                                         batch_size=args.batch_size, token_budget=args.token_budget)


def add_resume_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true",
                        help="keep the topics an interrupted run already finished (journaled beside --output)")


def model_identity(reranker) -> Dict[str, Any]:
    """What makes a reranker's scores what they are: base model, variant, trained weights, length, dtype."""
    import hashlib

    from ..qpeft_model import base_fingerprint

    model = reranker.model
    digest = hashlib.sha256()
    for name, tensor in sorted(model.trainable_parameters().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return {"base_model": model.config.base_model, "variant": model.config.variant,
            "base_fingerprint": base_fingerprint(model.lm), "weights": digest.hexdigest()[:16],
            "max_length": model.encoder.max_length, "dtype": str(model.lm.dtype).replace("torch.", "")}


def rerank_to_file(args: argparse.Namespace, reranker, run, queries, searcher, source: str, tag: str) -> int:
    """Rerank every query of ``run`` with a progress bar, journaling each finished topic; then write
    ``args.output`` atomically in the run's order. Returns the number of topics done in this call.

    ``--resume`` continues a journal only if it was written with the same model, depth, tag and source run.
    """
    from ..journal import RunJournal, settings_digest
    from ..reranking import rerank_run

    settings = {"model": model_identity(reranker), "depth": args.depth,
                "source_run": settings_digest(run), "queries": settings_digest({q: queries.get(q) for q in run})}
    journal = RunJournal(args.output, tag, settings)
    kept = journal.start(getattr(args, "resume", False))
    if kept:
        logging.getLogger(__name__).info("resuming: %d of %d topics already done", kept, len(run))
    todo = {qid: hits for qid, hits in run.items() if not journal.finished(qid)}
    with progress_bar(args, total=len(run), initial=kept, desc="rerank", unit="query") as bar:
        for qid, hits in rerank_run(reranker, todo, queries, searcher, depth=args.depth, source=source,
                                    on_query=lambda qid, n: bar.update(1)):
            journal.record(qid, hits)
    journal.finish(list(run))
    return len(todo)
