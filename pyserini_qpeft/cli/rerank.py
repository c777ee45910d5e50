"""``pyserini-qpeft rerank``: a TREC run in, a reranked TREC run out."""

from __future__ import annotations

import argparse
import logging

from ..runs import check_run_tag, read_run
from .common import add_model_args, add_resume_arg, add_topic_args, load_topic_args, rerank_to_file, reranker_from_args

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "rerank",
        help="rerank a TREC run with an LLM",
        description="Rerank the hits of a TREC run; document texts come from the index.",
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
        required=True,
        metavar="DIR|NAME",
        help="Lucene index holding the documents' raw text, or a Pyserini prebuilt index name from its cache",
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
    from ..lucene_index import open_searcher
    from ..outputs import check_run_output

    check_run_output(args.output)
    if args.run_tag is not None:
        check_run_tag(args.run_tag)
    queries = load_topic_args(args)
    first_stage = read_run(args.run)
    if args.max_queries is not None:
        first_stage = {qid: hits for qid, hits in first_stage.items() if qid in queries}
    searcher = open_searcher(args.index, what="--index")
    reranker = reranker_from_args(args)
    rerank_to_file(args, reranker, first_stage, queries, searcher, source=args.run, tag=args.run_tag)
    logger.info("wrote %s (%d queries)", args.output, len(first_stage))
    return 0
