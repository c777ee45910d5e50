"""``pyserini-qpeft rerank``: a TREC run in, a reranked TREC run out."""

from __future__ import annotations

import argparse
import logging

from pyserini_qpeft.cli.common import (
    add_model_args,
    add_resume_arg,
    add_topic_args,
    load_reranker,
    load_topic_args,
    lock_output,
    rerank_to_output,
    reranker_options,
)
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.trec import check_run_tag, read_run

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "rerank",
        help="rerank a TREC run with an LLM",
        description="Rerank the hits of a TREC run; document texts come from the index (or the --beir corpus).",
    )
    parser.add_argument(
        "--run",
        "--run-file",
        dest="run",
        required=True,
        metavar="FILE",
        help="TREC run to rerank (spell it --run-file under torchrun, whose own --run-path takes --run)",
    )
    parser.add_argument(
        "--index",
        metavar="DIR|NAME",
        help="Lucene index holding the documents' raw text, or a Pyserini prebuilt index name from its cache "
        "(default: the corpus of --beir, read without Java)",
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="TREC run file to write")
    parser.add_argument(
        "--run-tag", default=None, help="run tag in the last column (default: qpeft, or qpeft-fusedW when fused)"
    )
    add_topic_args(parser)
    add_model_args(parser)
    add_resume_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pyserini_qpeft.files.guards import check_run_output
    from pyserini_qpeft.lucene.index import open_searcher

    check_run_output(args.output, inputs={"--run": args.run, "--topics": args.file})
    if args.run_tag is not None:
        check_run_tag(args.run_tag)
    options = reranker_options(args)
    if not (args.index or args.beir):
        raise InputError("give --index DIR (the documents' texts), or --beir DIR, whose corpus.jsonl holds them")
    with lock_output(args.output):
        queries = load_topic_args(args)
        first_stage = read_run(args.run)
        if args.max_queries is not None:
            first_stage = {qid: hits for qid, hits in first_stage.items() if qid in queries}
        if args.index:
            searcher = open_searcher(args.index, what="--index")
        else:
            from pyserini_qpeft.lucene.run_searcher import RunSearcher

            searcher = RunSearcher.from_files(args.run, args.beir, queries, ())
        reranker = load_reranker(options)
        rerank_to_output(args, options, reranker, first_stage, queries, searcher, args.run_tag, source=args.run)
    logger.info("wrote %s (%d queries)", args.output, len(first_stage))
    return 0
