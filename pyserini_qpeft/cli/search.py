"""``pyserini-qpeft search``: BM25 over a Lucene index, optionally reranked, to a TREC run."""

from __future__ import annotations

import argparse
import logging

from pyserini_qpeft.cli.common import (
    add_model_args,
    add_options,
    add_resume_arg,
    add_topic_args,
    load_reranker,
    load_topic_args,
    lock_output,
    options_from_args,
    progress_bar,
    rerank_to_output,
    reranker_options,
)
from pyserini_qpeft.cli.pipeline_file import FirstStage
from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
from pyserini_qpeft.runs.distributed import world_from_env
from pyserini_qpeft.runs.trec import check_run_tag, write_run

logger = logging.getLogger(__name__)

CLI_FIRST_STAGE = {"hits": {"default": 1000}}  # Pyserini's default; the YAML pipeline's is FirstStage.hits


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "search",
        help="BM25 search (optionally reranked) to a TREC run",
        description="Run BM25 for every topic and write a TREC run; --rerank MODEL reranks the hits.",
    )
    parser.add_argument(
        "--index",
        required=True,
        metavar="DIR|NAME",
        help="Lucene index folder, or a Pyserini prebuilt index name (e.g. beir-v1.0.0-scifact.flat) from its cache",
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="TREC run file to write")
    add_options(parser, FirstStage, changes=CLI_FIRST_STAGE)
    parser.add_argument(
        "--run-tag", default=None, help="run tag in the last column (default: bm25, or qpeft[-fusedW] when reranked)"
    )
    add_topic_args(parser)
    add_model_args(parser, flag="--rerank", required=False)
    add_resume_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pyserini_qpeft.files.guards import check_run_output
    from pyserini_qpeft.lucene.index import open_searcher

    check_run_output(args.output, inputs={"--topics": args.file})
    first_stage = options_from_args(FirstStage, args)
    tag = None if args.run_tag is None else check_run_tag(args.run_tag)
    options = reranker_options(args) if args.model else None
    with lock_output(args.output):
        queries = load_topic_args(args)
        reranker = load_reranker(options) if options else None
        searcher = open_searcher(args.index, k1=first_stage.k1, b=first_stage.b, what="--index")
        with progress_bar(args, total=len(queries), desc="bm25", unit="query") as bar:
            found = bm25_search(
                searcher, queries, hits=first_stage.hits, threads=first_stage.threads, progress=bar.update
            )
        result = hits_to_run(found)
        empty = [qid for qid, hits in result.items() if not hits]
        if empty:
            logger.warning("%d queries retrieved nothing (e.g. %s)", len(empty), empty[0])
        if reranker is not None:
            rerank_to_output(args, options, reranker, result, queries, searcher, tag, source=f"index {args.index}")
        elif world_from_env().is_main:  # under torchrun every rank searched; one writes
            write_run(args.output, result, tag or "bm25")
    logger.info("wrote %s (%d queries)", args.output, len(result))
    return 0
