"""Training examples for Q-PEFT: positives from qrels, hard negatives from BM25, a dev split."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyserini_qpeft.errors import InputError


@dataclass
class TrainingQuery:
    """One query with its judged-relevant documents and BM25 hard negatives (top hits not judged relevant)."""

    qid: str
    text: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)


def build_training_queries(
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    searcher,
    depth: int = 30,
    threads: int = 1,
    progress: Callable[[int], Any] | None = None,
) -> list[TrainingQuery]:
    """Pair each judged query with its positives and the BM25 top-``depth`` hits that are not positives."""
    from pyserini_qpeft.lucene.bm25 import bm25_search

    usable = {qid: text for qid, text in queries.items() if any(rel > 0 for rel in qrels.get(qid, {}).values())}
    if not usable:
        raise InputError("no training query has a relevant document in the qrels")
    hits = bm25_search(searcher, usable, hits=depth, threads=threads, progress=progress)
    examples = []
    for qid, text in usable.items():
        positives = [d for d, rel in qrels[qid].items() if rel > 0]
        judged = set(qrels[qid])
        negatives = [h.docid for h in hits[qid] if h.docid not in judged]
        examples.append(TrainingQuery(qid, text, positives, negatives))
    return examples


def split_dev(
    examples: Sequence[TrainingQuery], fraction: float, seed: int, max_dev: int | None = None
) -> tuple[list[TrainingQuery], list[TrainingQuery]]:
    """Hold back a seeded random ``fraction`` of the queries (at least one) as the dev split."""
    if not 0 < fraction < 1:
        raise InputError(f"--dev-fraction must be between 0 and 1, got {fraction}")
    if len(examples) < 2:
        raise InputError(f"need at least 2 training queries to hold some back for dev, got {len(examples)}")
    order = list(examples)
    random.Random(seed).shuffle(order)
    size = max(1, int(round(len(order) * fraction)))
    if max_dev:
        size = min(size, max_dev)
    dev = sorted(order[:size], key=lambda e: e.qid)
    train = [e for e in examples if e not in dev]
    return train, dev


@dataclass
class StepPairs:
    """The pairs of one query in a training step: index 0 is the positive, the rest negatives."""

    query: TrainingQuery
    docids: list[str]


def sample_step(
    batch: Sequence[TrainingQuery], qrels: dict[str, dict[str, int]], negatives: int, in_batch: int, rng: random.Random
) -> list[StepPairs]:
    """For each query: one positive, ``negatives`` hard negatives and up to ``in_batch`` other queries' positives."""
    positives = [rng.choice(q.positives) for q in batch]
    steps = []
    for i, query in enumerate(batch):
        hard = rng.sample(query.negatives, min(negatives, len(query.negatives)))
        judged = qrels.get(query.qid, {})
        others = [p for j, p in enumerate(positives) if j != i and p not in judged and p not in hard]
        others = list(dict.fromkeys(others))
        extra = rng.sample(others, min(in_batch, len(others)))
        steps.append(StepPairs(query, [positives[i], *hard, *extra]))
    return steps


def fixed_dev_pairs(dev: Sequence[TrainingQuery], negatives: int) -> list[StepPairs]:
    """Deterministic dev pairs: the first positive and the top ``negatives`` BM25 hard negatives."""
    return [StepPairs(q, [q.positives[0], *q.negatives[:negatives]]) for q in dev if q.negatives]
