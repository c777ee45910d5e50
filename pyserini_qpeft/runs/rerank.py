"""Rerank a whole run (many queries): query by query (:func:`rerank_run`), or resumably into a TREC file
(:func:`rerank_run_to_file`)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from pyserini_qpeft.candidate import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.loading import dtype_name
from pyserini_qpeft.runs.fusion import FROM_CHECKPOINT
from pyserini_qpeft.runs.trec import Run

logger = logging.getLogger(__name__)


def rerank_run(
    reranker,
    run: Run,
    queries: dict[str, str],
    searcher,
    depth: int | None = None,
    source: str = "the run",
    on_query: Callable[[str, int], Any] | None = None,
    fusion_weight: float | None = None,
) -> Iterator[tuple[str, list]]:
    """Yield (qid, [(docid, score)]) for each query of ``run``, its top ``depth`` hits reranked (their scores
    fused with the run's when ``fusion_weight`` is given, see ``QPEFTReranker.rerank``).

    Document texts come from ``searcher``. ``source`` names the run in error messages;
    ``on_query(qid, n_pairs)`` is called after each query (for progress bars).
    """
    missing = [qid for qid in run if qid not in queries]
    if missing:
        raise InputError(
            f"{source}: query ids {missing[:5]} have no text in the topics; pass the matching --topics/--beir"
        )
    for qid, hits in run.items():
        candidates = [Candidate(docid=docid, score=score) for docid, score in hits]
        try:
            reranked = reranker.rerank(
                queries[qid], candidates, searcher=searcher, k=depth, fusion_weight=fusion_weight
            )
        except InputError as exc:
            raise InputError(f"{source}: query {qid}: {exc}") from None
        if on_query:
            on_query(qid, min(len(hits), depth or len(hits)))
        yield qid, [(c.docid, c.score) for c in reranked]


def model_identity(reranker) -> dict[str, Any]:
    """What makes a reranker's scores what they are: base model, variant, trained weights, length, dtype."""
    import hashlib

    from pyserini_qpeft.model.qpeft_model import base_fingerprint

    model = reranker.model
    digest = hashlib.sha256()
    for name, tensor in sorted(model.trainable_parameters().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return {
        "base_model": model.config.base_model,
        "variant": model.config.variant,
        "base_fingerprint": base_fingerprint(model.lm),
        "weights": digest.hexdigest()[:16],
        "max_length": model.encoder.max_length,
        "dtype": dtype_name(model.lm.dtype),
    }


def rerank_run_to_file(
    reranker,
    run: Run,
    queries: dict[str, str],
    searcher,
    output: str | os.PathLike,
    *,
    depth: int | None = None,
    fusion_weight: float | str | None = FROM_CHECKPOINT,
    tag: str | None = None,
    resume: bool = False,
    source: str = "the run",
    progress: bool = False,
) -> int:
    """Rerank every query of ``run`` (qid -> [(docid, first-stage score)]) and write the TREC run ``output``,
    resumably: each finished topic is journaled beside it, and the file appears, atomically, at the end in the
    run's order. Returns the number of topics reranked in this call.

    ``searcher`` gives the documents' texts (a Pyserini ``LuceneSearcher`` or a ``RunSearcher``); ``depth`` hits
    per query are reranked (all when None). Scores are fused with the run's as ``reranker.fusion(fusion_weight)``
    says (the checkpoint's weight by default, None for the reranker's scores alone); the default ``tag`` names
    the weight (``qpeft``, ``qpeft-fused0.30``). With ``resume`` an interrupted call's journal is continued, but
    only if it was written with the same model, depth, batching, fusion weight, tag, run and queries. ``source``
    names the run in messages; ``progress`` shows a progress bar.

    Under ``torchrun`` each rank reranks its share of the topics (balanced by pairs) and rank 0 writes the whole
    run: the same bytes as one process. A restart by torchrun (``--max-restarts``) resumes as ``resume`` does.
    One process writes an output at a time (its lock, :mod:`pyserini_qpeft.files.lock`).
    """
    from tqdm.auto import tqdm

    from pyserini_qpeft.files.lock import output_lock
    from pyserini_qpeft.runs import distributed
    from pyserini_qpeft.runs.fusion import fused_tag
    from pyserini_qpeft.runs.journal import RunJournal, settings_digest

    world = distributed.world_from_env()
    weight = reranker.fusion(fusion_weight)
    tag = tag or fused_tag("qpeft", weight)
    if weight is None:
        logger.info("scores: the reranker's alone (no fusion with the first stage)")
    else:
        logger.info(
            "scores: fused with the first stage's, weight %.2f (%.2f * first stage + %.2f * reranker, "
            "each min-max normalised per query)",
            weight,
            weight,
            1 - weight,
        )
    settings = {
        "model": model_identity(reranker),
        "depth": depth,
        # Batches pad pairs to a common length, which moves scores in the last digits.
        "batching": {"batch_size": reranker.scorer.batch_size, "token_budget": reranker.scorer.token_budget},
        "fusion_weight": weight,
        "source_run": settings_digest(run),
        "queries": settings_digest({q: queries.get(q) for q in run}),
    }
    resume = resume or distributed.restarted()
    with output_lock(output, world.rank, world.size):
        journal = RunJournal(str(output), tag, settings, rank=world.rank, processes=world.size)
        kept = journal.start(resume)
        mine = distributed.share(run, cost=lambda qid: min(len(run[qid]), depth or len(run[qid])), world=world)
        kept_everywhere = int(distributed.all_reduce_sum([kept], world)[0])  # rank 0 tells for all ranks
        if kept_everywhere:
            logger.info("resuming: %d of %d topics already done", kept_everywhere, len(run))
        if world.distributed:
            logger.info("%s: reranking %d of %d topics", world, len(mine), len(run))
        todo = {qid: run[qid] for qid in mine if not journal.finished(qid)}
        quiet = not progress or not world.is_main  # one bar: rank 0's
        bar = tqdm(total=len(mine), initial=kept, desc="rerank", unit="query", disable=quiet, dynamic_ncols=True)
        with contextlib.closing(journal), bar:
            reranked = rerank_run(
                reranker, todo, queries, searcher, depth, source, lambda *_: bar.update(1), fusion_weight=weight
            )
            for qid, hits in reranked:
                journal.record(qid, hits)
        if not world.distributed:
            journal.finish(list(run))
            return len(todo)
        merged = distributed.gather({qid: journal.lines[qid] for qid in mine}, world=world)
        if world.is_main:
            journal.write_output(list(run), merged)
        distributed.barrier(world)  # the run is written: the journals may go
        journal.remove()
    return len(todo)
