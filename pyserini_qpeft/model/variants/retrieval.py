"""Q-PEFT-R: each document's k tokens closest to the query become its hints.

Selection (not differentiable) compares the query's rows of the trainable table with the LM's frozen
input embeddings by cosine similarity, one search per query over all its candidates
(:mod:`pyserini_qpeft.model.hint_selection`); the hint vectors are the chosen tokens' trainable rows
through the MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyserini_qpeft.model.hint_selection import FaissGpuResources, select_hints
from pyserini_qpeft.model.scoring import EncodedPair
from pyserini_qpeft.model.variants.base import HintModule, PairHints, special_token_mask

__all__ = ["RetrievalHints", "STOPWORDS", "allowed_hint_tokens", "token_texts"]

STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split()
)


def token_texts(tokenizer, size: int) -> list[str]:
    """The text of each of the first ``size`` token ids, decoded alone.

    A fast tokenizer decodes them in one call into its Rust backend, about 6x faster than ``batch_decode`` on a
    49k vocabulary. The texts can differ from ``batch_decode``'s only where a tokenizer asks to clean up spaces
    before punctuation (SmolLM2's does not), which changes no hint filter's answer."""
    ids = [[i] for i in range(size)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode_batch(ids, skip_special_tokens=False)
    return tokenizer.batch_decode(ids)


def allowed_hint_tokens(
    tokenizer, special: torch.Tensor, filter_stopwords: bool, filter_nonalpha: bool
) -> torch.Tensor:
    """Boolean mask over the vocabulary: tokens that may be hints (never the ``special`` ones).

    On the meta device (a checkpoint's shape check sizes the module there) the values are never read, so the
    vocabulary is not decoded."""
    allowed = ~special
    if (filter_stopwords or filter_nonalpha) and not allowed.is_meta:
        for token_id, text in enumerate(token_texts(tokenizer, min(len(special), len(tokenizer)))):
            word = text.strip().lower()
            if (filter_nonalpha and not word.isalpha()) or (filter_stopwords and word in STOPWORDS):
                allowed[token_id] = False
    return allowed


class RetrievalHints(HintModule):
    """Q-PEFT-R: per document, its ``num_hints`` tokens closest to the query, then the MLP."""

    def __init__(
        self,
        lm_embeddings: nn.Module,
        special: torch.Tensor,
        allowed: torch.Tensor,
        num_hints: int,
        mlp_hidden: int = 0,
        backend: str = "auto",
    ):
        super().__init__(lm_embeddings, special, mlp_hidden)
        self.num_hints = num_hints
        self.backend = backend
        self.register_buffer("allowed", allowed, persistent=False)
        self._faiss_gpu = FaissGpuResources()  # one per module, created on the first GPU FAISS search
        self._normalized: tuple[tuple, torch.Tensor] | None = None  # (key of the LM weight, unit-norm fp32 copy)

    @classmethod
    def from_model(cls, lm, tokenizer, config) -> RetrievalHints:
        embeddings = lm.get_input_embeddings()
        special = special_token_mask(tokenizer, embeddings.weight.shape[0])
        allowed = allowed_hint_tokens(tokenizer, special, config.filter_stopwords, config.filter_nonalpha)
        return cls(embeddings, special, allowed, config.num_hints, config.mlp_hidden, config.hint_backend)

    def reserve(self, query_ids: Sequence[int]) -> int:
        return self.num_hints

    @property
    def normalized_frozen(self) -> torch.Tensor:
        """The LM's input embeddings in float32, unit-norm, on their device; recomputed when they move or change."""
        weight = self.frozen
        key = (weight.device, weight.dtype, weight.data_ptr(), weight._version)
        if self._normalized is None or self._normalized[0] != key:
            self._normalized = (key, nn.functional.normalize(weight.float(), dim=-1))
        return self._normalized[1]

    def _apply(self, fn, recurse=True):
        self._normalized = None  # a move frees the old storage, whose address a new tensor may reuse
        return super()._apply(fn, recurse)

    def selection_inputs(self, query_ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(unit query vectors, unit token table, allowed mask) for a search, all on the LM embeddings' device."""
        with torch.no_grad():
            query_vecs = nn.functional.normalize(self.query_vectors(query_ids).float(), dim=-1)
            table = self.normalized_frozen
            return query_vecs.to(table.device), table, self.allowed.to(table.device)

    def select(self, query_ids: Sequence[int], docs: Sequence[Sequence[int]]) -> list[list[int]]:
        """Hint token ids for each of one query's candidate documents (one search for all of them)."""
        query_vecs, table, allowed = self.selection_inputs(query_ids)
        return select_hints(
            query_vecs, query_ids, docs, table, allowed, self.num_hints, self.backend, gpu_resources=self._faiss_gpu
        )

    def prepare(self, query_ids: Sequence[int], docs: Sequence[Sequence[int]]) -> list[PairHints]:
        return [PairHints(slots=len(tokens), tokens=tokens) for tokens in self.select(query_ids, docs)]

    def hint_vectors(self, pairs: Sequence[EncodedPair]) -> list[torch.Tensor]:
        """The MLP over the trainable rows of each pair's chosen tokens."""
        hint_tokens = [pair.hint_tokens for pair in pairs]
        flat = [t for tokens in hint_tokens for t in tokens]
        if not flat:
            return [self.query_table.weight.new_zeros((0, self.query_table.embedding_dim)) for _ in hint_tokens]
        vectors = self.mlp(self.query_vectors(flat))
        return list(vectors.split([len(tokens) for tokens in hint_tokens]))
