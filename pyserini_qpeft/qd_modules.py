"""The query-dependent (QD) modules that make hint vectors: Q-PEFT-R (retrieval) and Q-PEFT-A (attention).

Both own a trainable query-token table initialised as a copy of the LM's input embeddings and an
MLP; document tokens are seen through the LM's frozen input embeddings.
"""

from __future__ import annotations

import functools
from typing import List, Sequence

import torch
from torch import nn

from .hint_selection import select_hints

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split())


def allowed_hint_tokens(tokenizer, vocab_size: int, filter_stopwords: bool, filter_nonalpha: bool) -> torch.Tensor:
    """Boolean mask over the vocabulary: tokens that may be hints (never special tokens)."""
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    special = [i for i in tokenizer.all_special_ids if i is not None and 0 <= i < vocab_size]
    allowed[special] = False
    if filter_stopwords or filter_nonalpha:
        texts = tokenizer.batch_decode([[i] for i in range(min(vocab_size, len(tokenizer)))])
        for token_id, text in enumerate(texts):
            word = text.strip().lower()
            if (filter_nonalpha and not word.isalpha()) or (filter_stopwords and word in STOPWORDS):
                allowed[token_id] = False
    return allowed


class HintMLP(nn.Module):
    """Linear-ReLU-Linear with a residual; the last layer starts at zero, so hints start as the token vectors."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class QDModule(nn.Module):
    """Shared parts: the trainable query-token table, the MLP and a frozen view of the LM embeddings."""

    def __init__(self, lm_embeddings: torch.Tensor, mlp_hidden: int, special: torch.Tensor):
        super().__init__()
        vocab, dim = lm_embeddings.shape
        self.query_table = nn.Embedding(vocab, dim)
        with torch.no_grad():
            self.query_table.weight.copy_(lm_embeddings.float())
        self.mlp = HintMLP(dim, mlp_hidden or dim)
        # Not parameters, not saved: the frozen LM embeddings and the special-token mask.
        self._frozen = [lm_embeddings]
        self.register_buffer("special", special, persistent=False)

    @property
    def frozen(self) -> torch.Tensor:
        return self._frozen[0]

    def query_vectors(self, query_ids: Sequence[int]) -> torch.Tensor:
        return self.query_table(torch.as_tensor(list(query_ids), dtype=torch.long, device=self.query_table.weight.device))


class RetrievalHints(QDModule):
    """Q-PEFT-R: per document, its k tokens closest to the query (non-differentiable choice), then the MLP."""

    def __init__(self, lm_embeddings: torch.Tensor, k: int, mlp_hidden: int, allowed: torch.Tensor,
                 backend: str = "auto"):
        super().__init__(lm_embeddings, mlp_hidden, special=~allowed)
        self.k = k
        self.backend = backend
        self.register_buffer("allowed", allowed, persistent=False)

    @functools.cached_property
    def normalized_frozen(self) -> torch.Tensor:
        return nn.functional.normalize(self.frozen.detach().float(), dim=-1)

    def select(self, query_ids: Sequence[int], docs: Sequence[Sequence[int]]) -> List[List[int]]:
        """Hint token ids for each of one query's candidate documents."""
        with torch.no_grad():
            query_vecs = nn.functional.normalize(self.query_vectors(query_ids).float(), dim=-1)
            query_vecs = query_vecs.to(self.normalized_frozen.device)
            return select_hints(query_vecs, query_ids, docs, self.normalized_frozen, self.allowed.to(query_vecs.device),
                                self.k, backend=self.backend)

    def hint_vectors(self, hint_tokens: Sequence[Sequence[int]]) -> List[torch.Tensor]:
        """The MLP over the trainable rows of each pair's chosen tokens (differentiable)."""
        flat = [t for tokens in hint_tokens for t in tokens]
        if not flat:
            return [self.query_table.weight.new_zeros((0, self.query_table.embedding_dim)) for _ in hint_tokens]
        vectors = self.mlp(self.query_vectors(flat))
        return list(vectors.split([len(tokens) for tokens in hint_tokens]))


class AttentionHints(QDModule):
    """Q-PEFT-A: multi-head attention from the query tokens over the document's frozen token embeddings."""

    def __init__(self, lm_embeddings: torch.Tensor, heads: int, mlp_hidden: int, special: torch.Tensor):
        super().__init__(lm_embeddings, mlp_hidden, special=special)
        dim = lm_embeddings.shape[1]
        if dim % heads:
            raise ValueError(f"attention_heads={heads} must divide the LM's hidden size {dim}")
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    def hint_vectors(self, query_ids: Sequence[Sequence[int]], docs: Sequence[Sequence[int]]) -> List[torch.Tensor]:
        """|q| hint vectors for each (query, document) pair (differentiable end to end)."""
        device = self.query_table.weight.device
        width_q = max(len(q) for q in query_ids)
        width_d = max(max(len(d) for d in docs), 1)
        q_ids = torch.zeros((len(docs), width_q), dtype=torch.long)
        d_ids = torch.zeros((len(docs), width_d), dtype=torch.long)
        d_pad = torch.ones((len(docs), width_d), dtype=torch.bool)
        for row, (q, d) in enumerate(zip(query_ids, docs)):
            q_ids[row, : len(q)] = torch.tensor(q, dtype=torch.long)
            if d:
                d_ids[row, : len(d)] = torch.tensor(d, dtype=torch.long)
                d_pad[row, : len(d)] = False
        q_ids, d_ids, d_pad = q_ids.to(device), d_ids.to(device), d_pad.to(device)
        masked = d_pad | self.special.to(device)[d_ids]
        empty = masked.all(dim=1)
        masked[empty, 0] = False  # a row with nothing to attend to reads position 0; its output is zeroed below
        keys = self.frozen[d_ids.to(self.frozen.device)].to(device=device, dtype=self.query_table.weight.dtype)
        out, _ = self.attention(self.query_table(q_ids), keys, keys, key_padding_mask=masked, need_weights=False)
        out = out.masked_fill(empty[:, None, None], 0.0)
        hints = self.mlp(out)
        return [hints[row, : len(q)] for row, q in enumerate(query_ids)]
