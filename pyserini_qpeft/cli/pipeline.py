"""``pyserini-qpeft pipeline CONFIG.yaml``: index, BM25, rerank, evaluate, all from one YAML file."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from pyserini_qpeft.cli.common import load_reranker, lock_output, progress_bar
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.files.guards import check_json_output, check_run_output
from pyserini_qpeft.runs import distributed
from pyserini_qpeft.runs.rerank import rerank_run_to_file

logger = logging.getLogger(__name__)

METRICS_KEYS = ("config", "runs", "metrics")  # what marks a metrics report as ours


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "pipeline",
        help="run a whole pipeline described in one YAML file",
        description="Index (if needed), BM25, optional reranking and evaluation from one YAML file.",
    )
    parser.add_argument("config", metavar="CONFIG.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set reranker.depth=50 (repeatable)",
    )
    parser.set_defaults(handler=run)


def _metrics_table(rows: dict) -> str:
    metrics = list(next(iter(rows.values())))
    width = max(len(name) for name in rows)
    lines = ["system".ljust(width) + "  " + "  ".join(m.rjust(8) for m in metrics)]
    for name, values in rows.items():
        lines.append(name.ljust(width) + "  " + "  ".join(f"{values[m]:8.4f}" for m in metrics))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pyserini_qpeft.cli.pipeline_file import load_pipeline_config
    from pyserini_qpeft.runs.trec import check_run_tag

    config = load_pipeline_config(args.config, args.overrides)
    if config.output.tag is not None:
        check_run_tag(config.output.tag)
    output = check_run_output(config.output.run, "output.run", inputs={"topics.file": config.topics.file})
    bm25_path = output.with_name(output.stem + ".bm25" + output.suffix) if config.reranker else output
    check_run_output(bm25_path, "output.run (its BM25 run)")
    metrics_path = check_json_output(
        output.with_name(output.name + ".metrics.json"), METRICS_KEYS, "output.run (its metrics)"
    )
    if config.reranker:
        from pyserini_qpeft.model.loading import check_model_available

        check_model_available(config.reranker.model)
    with lock_output(str(output)):
        return _run(args, config, output, bm25_path, metrics_path)


def _run(args: argparse.Namespace, config, output: Path, bm25_path: Path, metrics_path: Path) -> int:
    from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
    from pyserini_qpeft.lucene.index import build_index, open_searcher
    from pyserini_qpeft.runs.beir import first_queries, load_qrels, load_queries
    from pyserini_qpeft.runs.evaluation import evaluate
    from pyserini_qpeft.runs.trec import write_run

    qrels = load_qrels(config.evaluation.qrels) if config.evaluation else None
    topics = config.topics
    if topics.file:  # a file (absolute by now) or a Pyserini topics name, checked when the config was read
        from pyserini_qpeft.lucene.names import read_topics

        queries = read_topics(topics.file, Path(args.config).resolve().parent, f"{args.config}: topics.file")
    else:
        queries = load_queries(topics.beir, topics.split)
    queries = first_queries(queries, topics.max_queries, name="topics.max_queries")
    index = Path(config.index.path)
    world = distributed.world_from_env()
    build = config.index.build == "always" or (config.index.build == "auto" and not index.exists())
    if distributed.broadcast(build, world) and world.is_main:  # under torchrun rank 0 builds, the others wait
        with progress_bar(args, desc="index", unit="doc") as bar:
            build_index(config.collection.beir, index, overwrite=config.index.build == "always", progress=bar.update)
    distributed.barrier(world)
    searcher = open_searcher(index, k1=config.first_stage.k1, b=config.first_stage.b)
    with progress_bar(args, total=len(queries), desc="bm25", unit="query") as bar:
        first = hits_to_run(
            bm25_search(
                searcher, queries, hits=config.first_stage.hits, threads=config.first_stage.threads, progress=bar.update
            )
        )
    runs = {"bm25": str(bm25_path)}
    if config.reranker:
        reranker = load_reranker(config.reranker)
        rerank_run_to_file(
            reranker,
            first,
            queries,
            searcher,
            output,
            depth=config.reranker.depth,
            fusion_weight=config.reranker.fusion_choice,
            tag=config.output.tag,
            resume=config.output.resume,
            source=f"BM25 on {index}",
            progress=not getattr(args, "quiet", False),
        )
        runs["reranked"] = str(output)
    if not world.is_main:  # rank 0 writes the BM25 run and evaluates
        return 0
    # The BM25 run is written last, so a failed or interrupted pipeline leaves only its resumable journal.
    write_run(bm25_path, first, "bm25" if config.reranker else config.output.tag or "bm25")
    if config.evaluation is None:
        logger.info("wrote %s; no qrels, so no evaluation", output)
        return 0
    from pyserini_qpeft.runs.trec import read_run

    table = {name: evaluate(read_run(path), qrels, config.evaluation.metrics) for name, path in runs.items()}
    print(_metrics_table(table))
    report = {
        "config": str(Path(args.config).resolve()),
        "overrides": args.overrides,
        "queries": len(queries),
        "qrels": config.evaluation.qrels,
        "runs": runs,
        "metrics": table,
    }
    with atomic_write(metrics_path) as handle:
        json.dump(report, handle, indent=2)
    logger.info("wrote %s and %s", output, metrics_path)
    return 0
