"""Q-PEFT-A: multi-head attention from the query tokens over the document's frozen token embeddings.

Queries are the query tokens' rows of the trainable table; keys and values are the LM's input embeddings
of the document tokens (padding and special tokens masked). Each pair gets |q| hint vectors, through the
MLP; everything is differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.scoring import EncodedPair
from pyserini_qpeft.model.variants.base import HintModule, PairHints, special_token_mask

__all__ = ["AttentionHints"]


class AttentionHints(HintModule):
    """Q-PEFT-A: ``heads``-head attention of the query tokens over the document, then the MLP."""

    def __init__(self, lm_embeddings: nn.Module, special: torch.Tensor, heads: int, mlp_hidden: int = 0):
        super().__init__(lm_embeddings, special, mlp_hidden)
        dim = lm_embeddings.weight.shape[1]
        if dim % heads:
            raise InputError(f"attention_heads={heads} must divide the LM's hidden size {dim}")
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    @classmethod
    def from_model(cls, lm, tokenizer, config) -> AttentionHints:
        embeddings = lm.get_input_embeddings()
        special = special_token_mask(tokenizer, embeddings.weight.shape[0])
        return cls(embeddings, special, config.attention_heads, config.mlp_hidden)

    def reserve(self, query_ids: Sequence[int]) -> int:
        return len(query_ids)

    def prepare(self, query_ids: Sequence[int], docs: Sequence[Sequence[int]]) -> list[PairHints]:
        return [PairHints(slots=len(query_ids)) for _ in docs]

    def hint_vectors(self, pairs: Sequence[EncodedPair]) -> list[torch.Tensor]:
        """|q| hint vectors for each (query, document) pair."""
        device = self.query_table.weight.device
        width_q = max(len(pair.query_ids) for pair in pairs)
        width_d = max(max(len(pair.doc_ids) for pair in pairs), 1)
        q_ids = torch.zeros((len(pairs), width_q), dtype=torch.long)
        d_ids = torch.zeros((len(pairs), width_d), dtype=torch.long)
        d_pad = torch.ones((len(pairs), width_d), dtype=torch.bool)
        for row, pair in enumerate(pairs):
            q_ids[row, : len(pair.query_ids)] = torch.tensor(pair.query_ids, dtype=torch.long)
            if pair.doc_ids:
                d_ids[row, : len(pair.doc_ids)] = torch.tensor(pair.doc_ids, dtype=torch.long)
                d_pad[row, : len(pair.doc_ids)] = False
        q_ids, d_ids, d_pad = q_ids.to(device), d_ids.to(device), d_pad.to(device)
        masked = d_pad | self.special.to(device)[d_ids]
        empty = masked.all(dim=1)
        masked[empty, 0] = False  # a row with nothing to attend to reads position 0; its output is zeroed below
        frozen = self.frozen
        keys = frozen[d_ids.to(frozen.device)].to(device=device, dtype=self.query_table.weight.dtype)
        out, _ = self.attention(self.query_table(q_ids), keys, keys, key_padding_mask=masked, need_weights=False)
        out = out.masked_fill(empty[:, None, None], 0.0)
        hints = self.mlp(out)
        return [hints[row, : len(pair.query_ids)] for row, pair in enumerate(pairs)]
