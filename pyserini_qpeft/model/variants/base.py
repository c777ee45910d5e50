"""The interface of a variant's query-dependent part, and what every hint module shares.

A :class:`HintModule` turns a (query, document) pair into hint vectors placed between the passage and
the question. Its life in a scoring call:

1. :meth:`HintModule.reserve`: how many hint positions a pair keeps free when its document is cut;
2. :meth:`HintModule.prepare`: per candidate document of one query, the hint tokens it needs and the
   number of slots (outside autograd; may search, like Q-PEFT-R);
3. :meth:`HintModule.hint_vectors`: one ``(slots, dim)`` tensor per encoded pair (differentiable).

Shared here: the trainable query-token table (a copy of the LM's input embeddings), the
:class:`HintMLP`, a frozen view of the LM's input embeddings (read when needed, never saved), and the
special-token mask.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from pyserini_qpeft.model.scoring import EncodedPair

__all__ = ["HintModule", "HintMLP", "PairHints", "special_token_mask"]


@dataclass
class PairHints:
    """What one pair needs before encoding: hint token ids (possibly none) and the number of hint slots."""

    slots: int
    tokens: list[int] = field(default_factory=list)


def special_token_mask(tokenizer, vocab_size: int) -> torch.Tensor:
    """Boolean mask over the vocabulary: True at the tokenizer's special tokens (never hints, never attended)."""
    special = torch.zeros(vocab_size, dtype=torch.bool)
    special[[i for i in tokenizer.all_special_ids if i is not None and 0 <= i < vocab_size]] = True
    return special


class HintMLP(nn.Module):
    """Linear-ReLU-Linear with a residual; the last layer starts at zero, so hints start as the token vectors."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class HintModule(nn.Module, abc.ABC):
    """A variant's trainable query-dependent part (see the module docstring for the protocol).

    ``lm_embeddings`` is the LM's input-embedding module: it is referenced, not registered, so it is in
    neither ``parameters()`` nor ``state_dict()``, and :attr:`frozen` always reads its current weight
    (after ``.to(device)``/``.half()`` too). ``special`` (the special-token mask) is a non-persistent buffer.
    """

    def __init__(self, lm_embeddings: nn.Module, special: torch.Tensor, mlp_hidden: int = 0):
        super().__init__()
        weight = lm_embeddings.weight
        vocab, dim = weight.shape
        self.query_table = nn.Embedding(vocab, dim)
        with torch.no_grad():
            self.query_table.weight.copy_(weight.detach().float())
        self.mlp = HintMLP(dim, mlp_hidden or dim)
        object.__setattr__(self, "_lm_embeddings", lm_embeddings)  # bypasses submodule registration
        self.register_buffer("special", special, persistent=False)

    @classmethod
    @abc.abstractmethod
    def from_model(cls, lm, tokenizer, config) -> HintModule:
        """Build the module for ``lm`` (a causal LM), its tokenizer and a ``QPEFTConfig``."""

    @abc.abstractmethod
    def reserve(self, query_ids: Sequence[int]) -> int:
        """Hint positions a pair with this query reserves when its document is cut to fit ``max_length``."""

    @abc.abstractmethod
    def prepare(self, query_ids: Sequence[int], docs: Sequence[Sequence[int]]) -> list[PairHints]:
        """Per candidate document (token ids, already cut) of one query: its hint tokens and slot count."""

    @abc.abstractmethod
    def hint_vectors(self, pairs: Sequence[EncodedPair]) -> list[torch.Tensor]:
        """One ``(pair.hint_slots, dim)`` tensor per pair, differentiable in the module's parameters."""

    @property
    def frozen(self) -> torch.Tensor:
        """The LM's input embeddings as they are now (detached; device and dtype follow the LM)."""
        return self._lm_embeddings.weight.detach()

    def query_vectors(self, query_ids: Sequence[int]) -> torch.Tensor:
        """Rows of the trainable query-token table for ``query_ids`` (differentiable)."""
        ids = torch.as_tensor(list(query_ids), dtype=torch.long, device=self.query_table.weight.device)
        return self.query_table(ids)
