"""``QPEFTModel``: a frozen causal LM plus the trainable Q-PEFT parts, scoring padded batches of pairs."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import torch
from torch import nn

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.families import check_family
from pyserini_qpeft.model.scoring import (
    EncodedPair,
    LeftPaddedBatch,
    PairEncoder,
    contiguous_lm_head,
    mean_target_log_prob,
)
from pyserini_qpeft.model.variants import get_variant, hint_module_class
from pyserini_qpeft.model.variants.base import HintModule

logger = logging.getLogger(__name__)


def base_fingerprint(lm) -> str:
    """``"v2:"`` + 16 hex digits identifying the base LM, the same in every dtype and on every device.

    It hashes the input embeddings' shape and the sign bits of up to 512 rows (the first 256 and 256 spread
    evenly over the vocabulary). Rounding between float32, bfloat16 and float16 never changes a sign bit
    (signed zeros and infinities keep theirs), so a checkpoint saved in one dtype is recognised in another;
    a different model has different signs.
    """
    weight = lm.get_input_embeddings().weight.detach()
    vocab = weight.shape[0]
    rows = torch.unique(torch.cat([torch.arange(min(256, vocab)), torch.linspace(0, vocab - 1, 256).long()]))
    signs = torch.signbit(weight[rows.to(weight.device)]).cpu().contiguous().numpy()
    digest = hashlib.sha256(f"{tuple(weight.shape)}".encode() + signs.tobytes()).hexdigest()
    return "v2:" + digest[:16]


def soft_prompt(lm, tokenizer, config: QPEFTConfig):
    """A stock ``peft`` prompt-tuning embedding, initialised from ``config.prompt_init_text`` (as peft's TEXT init)."""
    from peft import PromptTuningConfig, PromptTuningInit, TaskType
    from peft.tuners.prompt_tuning import PromptEmbedding

    embeddings = lm.get_input_embeddings()
    peft_config = PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        prompt_tuning_init=PromptTuningInit.RANDOM,
        num_virtual_tokens=config.num_virtual_tokens,
        token_dim=embeddings.weight.shape[1],
        num_transformer_submodules=1,
        num_attention_heads=getattr(lm.config, "num_attention_heads", 1),
        num_layers=getattr(lm.config, "num_hidden_layers", 1),
    )
    prompt = PromptEmbedding(peft_config, embeddings)
    init_ids = tokenizer(config.prompt_init_text, add_special_tokens=False)["input_ids"] or [0]
    repeats = -(-config.num_virtual_tokens // len(init_ids))
    init_ids = (init_ids * repeats)[: config.num_virtual_tokens]
    with torch.no_grad():
        prompt.embedding.weight.copy_(
            embeddings.weight[torch.tensor(init_ids, device=embeddings.weight.device)].float()
        )
    return prompt.float(), peft_config


class QPEFTModel(nn.Module):
    """The LM (frozen, never saved) with an optional soft prompt and hint module (the only trainable parts).

    What the variant adds comes from the registry (:mod:`pyserini_qpeft.model.variants`): ``hint_module`` is its
    :class:`~pyserini_qpeft.model.variants.base.HintModule`, or None.
    """

    def __init__(self, lm, tokenizer, config: QPEFTConfig):
        super().__init__()
        check_family(lm, needs_inputs_embeds=get_variant(config.variant).trainable)
        limit = getattr(lm.config, "max_position_embeddings", None) or config.max_length
        if limit < config.max_length:  # the soft prompt and hints must fit the LM's positions too (checked here)
            config = config.replace(max_length=limit)
        self.config = config
        self.spec = get_variant(config.variant)
        self.tokenizer = tokenizer
        self.lm = lm
        lm.requires_grad_(False)
        contiguous_lm_head(lm)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.encoder = PairEncoder(tokenizer, config.max_length, pad_id=pad if pad is not None else 0)
        device = lm.get_input_embeddings().weight.device
        self.prompt: nn.Module | None = None
        self.peft_config = None
        if self.spec.uses_prompt:
            self.prompt, self.peft_config = soft_prompt(lm, tokenizer, config)
            self.prompt.to(device)
        self.hint_module: HintModule | None = None
        if self.spec.uses_hints:
            self.hint_module = hint_module_class(self.spec).from_model(lm, tokenizer, config).to(device)

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def train(self, mode: bool = True) -> QPEFTModel:
        """Train mode for the trainable parts only: the frozen LM stays in eval mode (no dropout)."""
        super().train(mode)
        self.lm.eval()
        return self

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        """Name -> parameter of exactly the parts that train (soft prompt and hint module)."""
        named = {}
        for prefix, module in (("prompt", self.prompt), ("hint_module", self.hint_module)):
            if module is not None:
                named.update({f"{prefix}.{n}": p for n, p in module.named_parameters()})
        return named

    @property
    def prompt_slots(self) -> int:
        """Soft-prompt positions at the start of every sequence (0 without a soft prompt)."""
        return self.config.num_virtual_tokens if self.prompt is not None else 0

    def hint_budget(self, query_ids: Sequence[int]) -> int | None:
        """Hint positions a pair reserves when its document is cut (the hint module's ``reserve``: k for Q-PEFT-R,
        |q| for Q-PEFT-A); None without a hint module (no "Hints:" line)."""
        return self.hint_module.reserve(query_ids) if self.hint_module is not None else None

    def prepare(self, queries: Sequence[str], docs: Sequence[str]) -> list[EncodedPair]:
        """Tokenise and lay out pairs, with the hints the hint module prepares per query (Q-PEFT-R: one search)."""
        if len(queries) != len(docs):
            raise InputError(f"got {len(queries)} queries but {len(docs)} documents")
        doc_ids = self.encoder.document_ids(list(docs))
        query_cache: dict[str, list[int]] = {}
        groups: dict[str, list[int]] = {}
        for index, query in enumerate(queries):
            if query not in query_cache:
                query_cache[query] = self.encoder.query_ids(query)
            groups.setdefault(query, []).append(index)
        prompt_slots = self.prompt_slots
        pairs: list[EncodedPair | None] = [None] * len(docs)
        for query, indices in groups.items():
            q_ids = query_cache[query]
            budget = self.hint_budget(q_ids)
            truncated = [self.encoder.truncate(q_ids, doc_ids[i], prompt_slots, budget) for i in indices]
            hints = (
                self.hint_module.prepare(q_ids, truncated) if self.hint_module is not None else [None] * len(indices)
            )
            for i, doc, hint in zip(indices, truncated, hints):
                pair = self.encoder.encode(q_ids, doc, i, prompt_slots, hint.slots if hint is not None else None)
                pair.hint_tokens = list(hint.tokens) if hint is not None else []
                pairs[i] = pair
        return pairs  # type: ignore[return-value]

    def hint_vectors(self, pairs: Sequence[EncodedPair]) -> list[torch.Tensor]:
        """The hint module's hint vectors, one ``(hint_slots, dim)`` tensor per pair."""
        if self.hint_module is None:
            raise InputError(f"variant {self.config.variant!r} has no hints")
        return self.hint_module.hint_vectors(pairs)

    def log_likelihood(self, batch: LeftPaddedBatch) -> torch.Tensor:
        """Mean log-probability of each row's query tokens and EOS (B,); differentiable in the trainable parts."""
        if self.prompt is None and self.hint_module is None:
            return mean_target_log_prob(self.lm, batch)
        embeds = self.lm.get_input_embeddings()(batch.input_ids)
        if self.prompt is not None:
            prompt = self.prompt(torch.arange(self.config.num_virtual_tokens, device=embeds.device))
            source = prompt.to(embeds.dtype).unsqueeze(0).expand(embeds.shape[0], -1, -1)
            embeds = embeds.masked_scatter(batch.prompt_mask.unsqueeze(-1), source)
        if self.hint_module is not None and any(pair.hint_slots for pair in batch.pairs):  # asked on the host: no sync
            hints = torch.cat(self.hint_vectors(batch.pairs)).to(embeds.dtype)
            embeds = embeds.masked_scatter(batch.hint_mask.unsqueeze(-1), hints)
        return mean_target_log_prob(self.lm, batch, inputs_embeds=embeds)
