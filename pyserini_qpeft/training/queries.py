"""Which judged queries a training run learns from and which it holds back for dev (``pyserini-qpeft train``'s
choice), and the first stage that supplies their negatives: an index, or a run file with the corpus texts."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field
from tqdm.auto import tqdm

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import Config
from pyserini_qpeft.runs.beir import first_queries, load_qrels, load_queries, qrels_path
from pyserini_qpeft.training.data import TrainingQuery, build_training_queries, split_dev

logger = logging.getLogger(__name__)


class QuerySelection(Config):
    """Which queries ``train`` learns from and holds back for dev; its flags of the same names."""

    beir: str  # the BEIR folder (train's own --beir flag)
    split: str = Field("train", description="training split")
    dev_split: str = Field(
        "dev", description="dev split for early stopping if it exists, else --dev-fraction of the train queries"
    )
    dev_fraction: float = Field(0.1, description="train queries held back for dev")
    max_dev_queries: int | None = Field(50, description="cap on dev queries")
    max_queries: int | None = Field(None, description="use only the first N training queries")
    max_train_queries: int | None = Field(
        None,
        description="after the dev queries are held back, train on only the first N of the rest (a learning "
        "curve keeps its dev queries while N varies)",
        json_schema_extra={"metavar": "N"},
    )
    negative_depth: int = Field(30, description="BM25 depth to mine hard negatives")
    threads: int = Field(1, description="BM25 search threads")
    seed: int = 42  # train's --seed (TrainingConfig.seed)

    @classmethod
    def from_args(cls, args: argparse.Namespace, **changes: Any) -> QuerySelection:
        """The selection that parsed flags (or any object with these attributes) ask for."""
        return cls(**{name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)} | changes)

    @property
    def dev_qrels(self) -> Path:
        """The dev split's qrels file; when it exists its queries are the dev queries."""
        return Path(self.beir) / "qrels" / f"{self.dev_split}.tsv"


def open_first_stage(selection: QuerySelection, index: str | None = None, first_stage_run: str | None = None):
    """The Lucene ``index``, or a :class:`~pyserini_qpeft.lucene.run_searcher.RunSearcher` over ``first_stage_run``
    with the texts of the corpus documents it and the selection's qrels name."""
    if index:
        from pyserini_qpeft.lucene.index import open_searcher

        return open_searcher(index, what="--index")
    from pyserini_qpeft.lucene.run_searcher import RunSearcher

    if not Path(first_stage_run).is_file():
        raise InputError(f"--first-stage-run {first_stage_run}: no such file")
    splits = [selection.split] + ([selection.dev_split] if selection.dev_qrels.is_file() else [])
    topics, judged = {}, set()
    for split in splits:
        topics.update(load_queries(selection.beir, split))
        judged.update(docid for docs in load_qrels(qrels_path(selection.beir, split)).values() for docid in docs)
    return RunSearcher.from_files(first_stage_run, selection.beir, topics, judged)


def choose_training_queries(
    selection: QuerySelection, searcher, progress: tqdm | None = None
) -> tuple[list[TrainingQuery], list[TrainingQuery], dict[str, dict[str, int]]]:
    """(train, dev, qrels of both) with BM25 negatives from ``searcher``: the first ``max_queries`` judged queries
    of ``split``; the dev split's queries if it has qrels, else a ``seed``-ed ``dev_fraction`` of them held back;
    then the first ``max_train_queries`` of the rest. A ``progress`` bar counts the training queries searched."""
    queries = first_queries(load_queries(selection.beir, selection.split), selection.max_queries, minimum=2)
    qrels = load_qrels(qrels_path(selection.beir, selection.split))
    depth, threads = selection.negative_depth, selection.threads
    if progress is not None:
        progress.reset(total=len(queries))
    update = progress.update if progress is not None else None
    examples = build_training_queries(queries, qrels, searcher, depth=depth, threads=threads, progress=update)
    if selection.dev_qrels.is_file():
        dev_qrels = load_qrels(selection.dev_qrels)
        dev_queries = first_queries(
            load_queries(selection.beir, selection.dev_split),
            selection.max_dev_queries,
            minimum=0,
            name="--max-dev-queries",
        )
        dev = build_training_queries(dev_queries, dev_qrels, searcher, depth=depth, threads=threads)
        qrels = {**qrels, **dev_qrels}
        train = examples
    else:
        train, dev = split_dev(examples, selection.dev_fraction, selection.seed, selection.max_dev_queries)
    cut = selection.max_train_queries
    if cut is not None:
        if cut < 1:
            raise InputError(f"--max-train-queries must be at least 1, got {cut}")
        if cut > len(train):
            raise InputError(
                f"--max-train-queries {cut}: only {len(train)} training queries are left after the dev split; "
                "lower it or raise --max-queries"
            )
        train = train[:cut]
    held = selection.dev_qrels.name if selection.dev_qrels.is_file() else f"{selection.dev_fraction:.0%} held back"
    logger.info("%d training queries, %d dev queries (%s)", len(train), len(dev), held)
    return train, dev, qrels


def _qrels_line(path: Path, qid: str, docid: str) -> int | None:
    """The 1-based line of ``path`` judging (qid, docid), or None."""
    from pyserini_qpeft.files.lines import text_lines

    for number, line in text_lines(path):
        fields = line.split()
        if len(fields) >= 3 and fields[0] == qid and docid in fields[1:3]:
            return number
    return None


def check_judged_documents(
    selection: QuerySelection, examples: list[TrainingQuery], doc_text: Callable[[str], str]
) -> None:
    """Every relevant document the chosen queries' judgments name must have a text (``doc_text(docid)``, which
    raises :class:`InputError` for a document the first stage lacks); the first that has none is an
    :class:`InputError` naming its qrels file and line (checked before any model loads)."""
    for example in examples:
        for docid in example.positives:
            try:
                doc_text(docid)
            except InputError:
                files = [qrels_path(selection.beir, selection.split)]
                files += [selection.dev_qrels] if selection.dev_qrels.is_file() else []
                for path in files:
                    line = _qrels_line(path, example.qid, docid)
                    if line is not None:
                        raise InputError(
                            f"{path}:{line}: query {example.qid!r} judges document {docid!r}, which is not in the "
                            "corpus of the index or first-stage run; fix the qrels or use the matching corpus"
                        ) from None
                raise
