"""``pyserini-qpeft search``: BM25 over a Lucene index, optionally reranked, to a TREC run."""

from __future__ import annotations

import argparse
import logging

from ..errors import InputError
from ..first_stage import bm25_search, hits_to_run
from ..runs import check_run_tag, write_run
from .common import (add_model_args, add_resume_arg, add_topic_args, load_reranker, load_topic_args, progress_bar,
                     rerank_to_file)

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser("search", help="BM25 search (optionally reranked) to a TREC run",
                            description="Run BM25 for every topic and write a TREC run; --rerank MODEL reranks the hits.")
    parser.add_argument("--index", required=True, metavar="DIR", help="Lucene index folder")
    parser.add_argument("--output", required=True, metavar="FILE", help="TREC run file to write")
    parser.add_argument("--hits", type=int, default=1000, help="hits per query (default: 1000)")
    parser.add_argument("--threads", type=int, default=1, help="search threads (default: 1)")
    parser.add_argument("--k1", type=float, default=0.9, help="BM25 k1 (default: 0.9)")
    parser.add_argument("--b", type=float, default=0.4, help="BM25 b (default: 0.4)")
    parser.add_argument("--run-tag", default=None, help="run tag in the last column (default: bm25 or qpeft)")
    add_topic_args(parser)
    add_model_args(parser, flag="--rerank", required=False)
    add_resume_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..lucene_index import open_searcher
    from ..outputs import check_run_output

    check_run_output(args.output)
    if args.hits < 1:
        raise InputError(f"--hits must be at least 1, got {args.hits}")
    tag = check_run_tag(args.run_tag or ("qpeft" if args.rerank else "bm25"))
    queries = load_topic_args(args)
    reranker = load_reranker(args, args.rerank) if args.rerank else None
    searcher = open_searcher(args.index, k1=args.k1, b=args.b)
    with progress_bar(args, total=len(queries), desc="bm25", unit="query") as bar:
        found = bm25_search(searcher, queries, hits=args.hits, threads=args.threads, progress=bar.update)
    result = hits_to_run(found)
    empty = [qid for qid, hits in result.items() if not hits]
    if empty:
        logger.warning("%d queries retrieved nothing (e.g. %s)", len(empty), empty[0])
    if reranker is not None:
        rerank_to_file(args, reranker, result, queries, searcher, source=f"index {args.index}", tag=tag)
    else:
        write_run(args.output, result, tag)
    logger.info("wrote %s (%d queries)", args.output, len(result))
    return 0
