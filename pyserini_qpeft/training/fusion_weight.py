"""Pick a checkpoint's fusion weight on its dev queries and save it in the checkpoint's config.

The dev queries' BM25 top ``depth`` hits are reranked by the checkpoint alone; the first stage's weight
in ``{0, 0.05, ..., 1}`` with the best dev nDCG@10 (:func:`pyserini_qpeft.runs.fusion.pick_weight`) becomes
``QPEFTConfig.fusion_weight``, which reranking then applies by default. Under ``torchrun`` the dev queries
are shared out and rank 0 picks and saves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
from pyserini_qpeft.model.checkpoint import load_checkpoint, save_checkpoint
from pyserini_qpeft.runs import distributed
from pyserini_qpeft.runs.fusion import pick_weight
from pyserini_qpeft.runs.rerank import rerank_run

logger = logging.getLogger(__name__)


def pick_checkpoint_fusion(
    folder: str | os.PathLike,
    lm: Any,
    tokenizer: Any,
    searcher: Any,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    depth: int = 20,
    on_query: Callable[[str, int], Any] | None = None,
) -> tuple[float, dict[float, float]]:
    """Rerank ``queries``' BM25 top ``depth`` with the checkpoint in ``folder``, pick the fusion weight on
    ``qrels`` (nDCG@10) and save it in the checkpoint. Returns the weight and nDCG@10 at every weight tried."""
    from pyserini_qpeft.reranker import QPEFTReranker

    model = load_checkpoint(folder, lm, tokenizer)
    model.eval()
    first = hits_to_run(bm25_search(searcher, queries, hits=depth))
    mine = {qid: first[qid] for qid in distributed.share(first, cost=lambda qid: len(first[qid]))}  # torchrun
    part = dict(rerank_run(QPEFTReranker(model), mine, queries, searcher, depth=depth, on_query=on_query))
    reranked = distributed.gather(part, order=list(first))
    picked = None
    if reranked is not None:  # rank 0 (or the only process) picks and saves
        picked = pick_weight(first, reranked, qrels, depth)
        model.config.fusion_weight = picked[0]
        save_checkpoint(model, folder)
    weight, curve = distributed.broadcast(picked)
    logger.info(
        "fusion weight %.2f picked on %d dev queries (dev nDCG@10 %.4f fused, %.4f reranker alone, %.4f BM25)",
        weight,
        len(queries),
        curve[weight],
        curve[0.0],
        curve[1.0],
    )
    return weight, curve
