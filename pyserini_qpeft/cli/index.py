"""``pyserini-qpeft index``: BEIR folder -> Lucene index."""

from __future__ import annotations

import argparse
import logging

from pyserini_qpeft.cli.common import progress_bar
from pyserini_qpeft.files.lines import MAX_RECORD_BYTES, raw_lines
from pyserini_qpeft.runs.beir import beir_dir

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "index",
        help="build a Lucene index from a BEIR folder",
        description="Index corpus.jsonl of a BEIR folder (title and text searchable, raw JSON stored).",
    )
    parser.add_argument("--beir", required=True, metavar="DIR", help="BEIR folder with corpus.jsonl")
    parser.add_argument("--index", required=True, metavar="DIR", help="index folder to create")
    parser.add_argument("--threads", type=int, default=2, help="indexing threads (default: 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing index folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pyserini_qpeft.lucene.index import build_index

    corpus = beir_dir(args.beir) / "corpus.jsonl"
    total = sum(1 for _, line in raw_lines(corpus, MAX_RECORD_BYTES) if line.strip())  # a bounded line length
    with progress_bar(args, total=total, desc="index", unit="doc") as bar:
        count = build_index(args.beir, args.index, threads=args.threads, overwrite=args.overwrite, progress=bar.update)
    logger.info("wrote %s (%d documents)", args.index, count)
    return 0
