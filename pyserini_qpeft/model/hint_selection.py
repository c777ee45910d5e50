"""Q-PEFT-R hint selection: each document's k tokens most similar to the query.

The paper scores every (query token, document token) pair by cosine similarity, flattens the
|q| x |d| matrix, walks it from the best score down, drops duplicates, query tokens and filtered
tokens, and keeps the first k. Because the scores depend only on token ids, a token t's best score
is S(t) = max_i cos(q_i, t) and its place in that walk is fixed by the key
(-S(t), first query index reaching S(t), first position of t in the document). So one
inner-product search per query over the distinct tokens of all its candidate documents serves
the whole candidate list. Three implementations share that contract:

- :func:`select_paper`: the per-pair procedure, as written (the reference);
- :func:`select_torch`: one matmul per query over the distinct tokens;
- :func:`select_faiss`: one FAISS ``IndexFlatIP`` search per query (GPU index when available).

All take unit-norm vectors, so inner product is cosine. Importing this module does not import torch or
numpy (``config`` validates ``hint_backend`` against :data:`HINT_BACKENDS`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyserini_qpeft.errors import QPEFTError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

HINT_BACKENDS = ("auto", "faiss", "torch")  # "auto": FAISS when it can search where the vectors are, else torch


def select_paper(
    query_vecs: torch.Tensor,
    query_ids: Sequence[int],
    doc_ids: Sequence[int],
    token_vecs: torch.Tensor,
    allowed: torch.Tensor,
    k: int,
) -> list[int]:
    """The paper's per-pair procedure for one document (reference implementation)."""
    import torch

    if len(doc_ids) == 0:
        return []
    doc = torch.as_tensor(list(doc_ids), dtype=torch.long)
    scores = (query_vecs @ token_vecs[doc].T).flatten()  # row-major: (query i, doc position j)
    order = torch.sort(-scores, stable=True).indices.tolist()
    banned = set(int(t) for t in query_ids)
    chosen: list[int] = []
    for flat in order:
        token = int(doc[flat % len(doc)])
        if token in banned or not bool(allowed[token]):
            continue
        banned.add(token)
        chosen.append(token)
        if len(chosen) == k:
            break
    return chosen


def _distinct_candidates(
    docs: Sequence[Sequence[int]], query_ids: Sequence[int], allowed: torch.Tensor
) -> torch.Tensor:
    import torch

    tokens = set()
    for doc in docs:
        tokens.update(int(t) for t in doc)
    tokens.difference_update(int(t) for t in query_ids)
    ids = torch.tensor(sorted(tokens), dtype=torch.long)  # on the CPU; ``allowed`` may live on the GPU
    return ids[allowed[ids].cpu()] if len(ids) else ids


def _per_document(docs: Sequence[Sequence[int]], token_key: dict[int, tuple], k: int) -> list[list[int]]:
    """Each document's k best tokens by (key, first position in the document)."""
    chosen = []
    for doc in docs:
        first: dict[int, int] = {}
        for position, token in enumerate(doc):
            token = int(token)
            if token in token_key and token not in first:
                first[token] = position
        ranked = sorted(first, key=lambda t: (*token_key[t], first[t]))
        chosen.append(ranked[:k])
    return chosen


def _keys_from_scores(candidates: torch.Tensor, scores: torch.Tensor) -> dict[int, tuple]:
    """scores: (|q|, N) similarities of each query token to each candidate -> token -> (-S, first argmax)."""
    import torch

    best = scores.max(dim=0).values
    first_max = (scores == best.unsqueeze(0)).to(torch.int8).argmax(dim=0)  # first query index reaching it
    return {int(t): (-float(s), int(i)) for t, s, i in zip(candidates.tolist(), best.tolist(), first_max.tolist())}


def select_torch(
    query_vecs: torch.Tensor,
    query_ids: Sequence[int],
    docs: Sequence[Sequence[int]],
    token_vecs: torch.Tensor,
    allowed: torch.Tensor,
    k: int,
) -> list[list[int]]:
    """Hints for every candidate document of one query with one matmul (works on any device)."""
    candidates = _distinct_candidates(docs, query_ids, allowed)
    if len(candidates) == 0:
        return [[] for _ in docs]
    scores = (query_vecs @ token_vecs[candidates.to(token_vecs.device)].T).float().cpu()
    return _per_document(docs, _keys_from_scores(candidates, scores), k)


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _faiss_gpus() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


class FaissGpuResources:
    """A ``faiss.StandardGpuResources``, created on first use and then reused (it holds GPU scratch memory).

    One per owner (a :class:`~pyserini_qpeft.model.variants.retrieval.RetrievalHints` module), so a GPU search per
    query does not allocate new resources each time. Copies and pickles start without one.
    """

    def __init__(self) -> None:
        self._resources = None

    def get(self):
        """The resources object, created now if this is the first GPU search."""
        if self._resources is None:
            import faiss

            self._resources = faiss.StandardGpuResources()
            logger.debug("created FAISS GPU resources")
        return self._resources

    def __getstate__(self) -> dict:
        return {"_resources": None}


def _faiss_index(dim: int, use_gpu: bool, gpu_resources: FaissGpuResources | None = None):
    import faiss

    index = faiss.IndexFlatIP(dim)
    if use_gpu and hasattr(faiss, "StandardGpuResources") and _faiss_gpus() > 0:
        resources = (gpu_resources or FaissGpuResources()).get()
        return faiss.index_cpu_to_gpu(resources, 0, index)
    return index


def select_faiss(
    query_vecs: torch.Tensor,
    query_ids: Sequence[int],
    docs: Sequence[Sequence[int]],
    token_vecs: torch.Tensor,
    allowed: torch.Tensor,
    k: int,
    use_gpu: bool = False,
    gpu_resources: FaissGpuResources | None = None,
) -> list[list[int]]:
    """Hints for every candidate document of one query with one FAISS inner-product search.

    ``use_gpu`` searches with a GPU index when faiss has GPU support, on ``gpu_resources`` (reused across calls;
    fresh ones when None).
    """
    if not faiss_available():
        raise QPEFTError("faiss is not installed: `pip install faiss-cpu` (or faiss-gpu), or use backend='torch'")
    import numpy as np
    import torch

    candidates = _distinct_candidates(docs, query_ids, allowed)
    if len(candidates) == 0:
        return [[] for _ in docs]
    vectors = np.ascontiguousarray(token_vecs[candidates.to(token_vecs.device)].detach().float().cpu().numpy())
    queries = np.ascontiguousarray(query_vecs.detach().float().cpu().numpy())
    index = _faiss_index(vectors.shape[1], use_gpu, gpu_resources)
    index.add(vectors)
    found_scores, found_rows = index.search(queries, len(candidates))  # every token, best first
    scores = np.empty_like(found_scores)
    np.put_along_axis(scores, found_rows, found_scores, axis=1)  # back to (|q|, N) in candidate order
    return _per_document(docs, _keys_from_scores(candidates, torch.from_numpy(scores)), k)


def select_hints(
    query_vecs: torch.Tensor,
    query_ids: Sequence[int],
    docs: Sequence[Sequence[int]],
    token_vecs: torch.Tensor,
    allowed: torch.Tensor,
    k: int,
    backend: str = "auto",
    gpu_resources: FaissGpuResources | None = None,
) -> list[list[int]]:
    """Dispatch to FAISS or torch. "auto": FAISS on CPU tensors (and GPU FAISS when it exists), torch on CUDA otherwise.

    ``gpu_resources`` is reused by GPU FAISS searches (see :class:`FaissGpuResources`).
    """
    if backend not in HINT_BACKENDS:
        raise QPEFTError(f"hint backend must be one of {', '.join(map(repr, HINT_BACKENDS))}, got {backend!r}")
    on_cuda = token_vecs.device.type == "cuda"
    if backend == "auto":
        backend = "faiss" if faiss_available() and (not on_cuda or _faiss_gpus() > 0) else "torch"
    if backend == "faiss":
        return select_faiss(
            query_vecs, query_ids, docs, token_vecs, allowed, k, use_gpu=on_cuda, gpu_resources=gpu_resources
        )
    return select_torch(query_vecs, query_ids, docs, token_vecs, allowed, k)
