"""Query-likelihood scoring with a frozen causal LM, done efficiently.

Each (query, document) pair becomes ``Passage: {doc}\\nQuestion: {query}<eos>`` (later variants add a
soft prompt before and hints between). The score is the mean log-probability of the query tokens and
the closing EOS. Pairs are sorted by length and packed into batches under a token budget, padded on
the left so every row's targets sit at the end, and the LM head runs only on those last positions.
Documents are truncated to fit ``max_length``; the query never is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.text import clean_text

logger = logging.getLogger(__name__)

PASSAGE_PREFIX = "Passage: "
PASSAGE_SUFFIX = "\n"
QUESTION_PREFIX = "Question:"
HINTS_PREFIX = "Hints:"


@dataclass
class EncodedPair:
    """Token ids of one pair: ``context`` (everything before the query) and ``target`` (query + EOS).

    The first ``prompt_slots`` context positions and the ``hint_slots`` positions from ``hint_at`` are
    placeholders for vectors (soft prompt, hints). ``query_ids``/``doc_ids`` (truncated) feed the hint module.
    """

    context: list[int]
    target: list[int]
    index: int  # position in the caller's list
    prompt_slots: int = 0
    hint_at: int = 0
    hint_slots: int = 0
    query_ids: list[int] = field(default_factory=list)
    doc_ids: list[int] = field(default_factory=list)
    hint_tokens: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        # The last target token is predicted, never fed in.
        return len(self.context) + len(self.target) - 1


def tokenizer_fingerprint(tokenizer) -> str:
    """The token ids that frame every scored pair: "bos=... passage=... question=... eos=...".

    A checkpoint trained under one framing scores off under another (a GGUF tokenizer converted with another EOS
    shifts every score), so ``save_checkpoint`` records it and loading compares.
    """
    encoder = PairEncoder(tokenizer, max_length=8)
    parts = {
        "bos": encoder.bos,
        "passage": encoder.passage_prefix,
        "question": encoder.question_prefix,
        "eos": encoder.eos,
    }
    return " ".join(f"{name}={','.join(map(str, ids))}" for name, ids in parts.items())


class PairEncoder:
    """Tokenises queries and documents into the prompt layout, truncating documents only."""

    def __init__(self, tokenizer, max_length: int, pad_id: int = 0):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_id  # placeholder id at vector slots
        with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
        without = tokenizer("a", add_special_tokens=False)["input_ids"]
        self.bos = with_special[: len(with_special) - len(without)] if with_special[-len(without) :] == without else []
        self.passage_prefix = self._ids(PASSAGE_PREFIX)
        self.passage_suffix = self._ids(PASSAGE_SUFFIX)
        self.question_prefix = self._ids(QUESTION_PREFIX)
        self.hints_prefix = self._ids(HINTS_PREFIX)
        self.eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def query_ids(self, query: str) -> list[int]:
        """Token ids of the query as it follows "Question:" (with its leading space)."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("the query is empty; give it some text")
        return self._ids(" " + clean_text(query.strip()))

    def document_ids(self, docs: Sequence[str]) -> list[list[int]]:
        """Token ids of each document (batched tokenisation); empty documents are an error."""
        for position, doc in enumerate(docs):
            if not isinstance(doc, str) or not doc.strip():
                raise InputError(f"document {position} of the list is empty; drop it or give it text")
        if not docs:
            return []
        return self.tokenizer([clean_text(d.strip()) for d in docs], add_special_tokens=False)["input_ids"]

    def fixed_length(self, query_ids: list[int], prompt_slots: int = 0, hint_slots: int | None = None) -> int:
        """Sequence length without the document (the last target token is never fed in)."""
        hints = 0 if hint_slots is None else len(self.hints_prefix) + hint_slots + len(self.passage_suffix)
        return (
            prompt_slots
            + len(self.bos)
            + len(self.passage_prefix)
            + len(self.passage_suffix)
            + hints
            + len(self.question_prefix)
            + len(query_ids)
            + len(self.eos)
            - 1
        )

    def truncate(
        self, query_ids: list[int], doc_ids: list[int], prompt_slots: int = 0, hint_slots: int | None = None
    ) -> list[int]:
        """The document cut so that the whole sequence fits ``max_length``."""
        room = self.max_length - self.fixed_length(query_ids, prompt_slots, hint_slots)
        if room < 1:
            raise InputError(
                f"the query is {len(query_ids)} tokens, too long for max_length={self.max_length}; raise max_length"
            )
        return list(doc_ids[:room])

    def encode(
        self, query_ids: list[int], doc_ids: list[int], index: int, prompt_slots: int = 0, hint_slots: int | None = None
    ) -> EncodedPair:
        """Lay out one pair (document truncated to fit), with placeholder slots for soft prompt and hints.

        ``hint_slots=None`` leaves out the "Hints:" line; 0 keeps the line with no hint vectors.
        """
        doc_ids = self.truncate(query_ids, doc_ids, prompt_slots, hint_slots)
        context = [self.pad_id] * prompt_slots + self.bos + self.passage_prefix + doc_ids + self.passage_suffix
        hint_at = 0
        if hint_slots is not None:
            context += self.hints_prefix
            hint_at = len(context)
            context += [self.pad_id] * hint_slots + self.passage_suffix
        context += self.question_prefix
        return EncodedPair(
            context=context,
            target=query_ids + self.eos,
            index=index,
            prompt_slots=prompt_slots,
            hint_at=hint_at,
            hint_slots=hint_slots or 0,
            query_ids=list(query_ids),
            doc_ids=doc_ids,
        )


def length_batches(pairs: Sequence[EncodedPair], batch_size: int, token_budget: int) -> Iterator[list[EncodedPair]]:
    """Longest-first batches of at most ``batch_size`` pairs and ``token_budget`` padded tokens."""
    batch: list[EncodedPair] = []
    for pair in sorted(pairs, key=len, reverse=True):
        width = len(batch[0]) if batch else len(pair)
        if batch and (len(batch) >= batch_size or width * (len(batch) + 1) > token_budget):
            yield batch
            batch = []
        batch.append(pair)
    if batch:
        yield batch


@dataclass
class LeftPaddedBatch:
    """A batch padded on the left: targets of every row end at the last column."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    position_ids: torch.Tensor  # (B, T)
    targets: torch.Tensor  # (B, L): target ids, right-aligned, pad where mask is 0
    target_mask: torch.Tensor  # (B, L) float
    indices: list[int]
    prompt_mask: torch.Tensor  # (B, T) bool: soft-prompt slots
    hint_mask: torch.Tensor  # (B, T) bool: hint slots
    pairs: list[EncodedPair]


def collate(batch: Sequence[EncodedPair], pad_id: int, device) -> LeftPaddedBatch:
    """Pad a batch on the left and right-align the targets."""
    width = max(len(p) for p in batch)
    target_width = max(len(p.target) for p in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    targets = torch.full((len(batch), target_width), pad_id, dtype=torch.long)
    target_mask = torch.zeros((len(batch), target_width), dtype=torch.float32)
    prompt_mask = torch.zeros((len(batch), width), dtype=torch.bool)
    hint_mask = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, pair in enumerate(batch):
        sequence = pair.context + pair.target[:-1]
        start = width - len(sequence)
        ids[row, start:] = torch.tensor(sequence)
        mask[row, start:] = 1
        prompt_mask[row, start : start + pair.prompt_slots] = True
        hint_mask[row, start + pair.hint_at : start + pair.hint_at + pair.hint_slots] = True
        targets[row, target_width - len(pair.target) :] = torch.tensor(pair.target)
        target_mask[row, target_width - len(pair.target) :] = 1.0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    # On a GPU: one pinned host block per dtype, copied without waiting, so the host goes on with the next batch.
    to_device = torch.device(device)
    cuda = to_device.type == "cuda"
    longs = torch.stack([ids, mask, positions, prompt_mask.long(), hint_mask.long()])
    if cuda:
        longs, target_mask = longs.pin_memory(), target_mask.pin_memory()
        packed_targets = targets.pin_memory()
    else:
        packed_targets = targets
    longs = longs.to(to_device, non_blocking=cuda)
    return LeftPaddedBatch(
        input_ids=longs[0],
        attention_mask=longs[1],
        position_ids=longs[2],
        targets=packed_targets.to(to_device, non_blocking=cuda),
        target_mask=target_mask.to(to_device, non_blocking=cuda),
        indices=[p.index for p in batch],
        prompt_mask=longs[3].bool(),
        hint_mask=longs[4].bool(),
        pairs=list(batch),
    )


def _contiguous_input(module, args):
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None


def contiguous_lm_head(lm) -> None:
    """Feed the LM head a contiguous copy of its input (a forward pre-hook, registered once per LM).

    Causal LMs slice the hidden states to the kept positions (``hidden[:, -width:, :]``) before the head. On a
    non-contiguous 3-D input, torch's matmul runs a batched ``bmm`` against the vocabulary matrix broadcast over
    the batch instead of one ``mm``: 1.9x slower in float32 on a 262k-token vocabulary (Gemma 3), and far
    slower in bfloat16 (benchmarks/results/speed_gemma). Values are unchanged: the copy holds the same numbers.
    """
    head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
    if head is None or getattr(head, "_qpeft_contiguous_input", False):
        return
    head.register_forward_pre_hook(_contiguous_input)
    head._qpeft_contiguous_input = True


def mean_target_log_prob(model, batch: LeftPaddedBatch, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
    """Mean log-probability of each row's targets (B,), computing logits only at the target positions."""
    width = batch.targets.shape[1]
    kwargs = {"inputs_embeds": inputs_embeds} if inputs_embeds is not None else {"input_ids": batch.input_ids}
    logits = model(
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=width,
        use_cache=False,
        **kwargs,
    ).logits
    logits = logits[:, -width:, :].float()
    # log_softmax at the target only: the full (B, L, vocab) log-probabilities are never written out.
    picked = logits.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
    return (picked * batch.target_mask).sum(-1) / batch.target_mask.sum(-1)


CPU_TOKEN_BUDGET = 2048
GPU_TOKEN_BUDGET = 8192


def default_token_budget(device, max_length: int) -> int:
    """Padded tokens per forward pass: small on CPU, where big batches only add padding and cache misses
    (benchmarks/results/speed_cpu), larger on accelerators; never below ``max_length``."""
    budget = CPU_TOKEN_BUDGET if torch.device(device).type == "cpu" else GPU_TOKEN_BUDGET
    return max(budget, max_length)


class QueryLikelihoodScorer:
    """Scores (query, document) pairs by a :class:`~.QPEFTModel`'s mean query log-likelihood.

    ``token_budget`` (padded tokens per forward pass) defaults to :func:`default_token_budget`.
    """

    def __init__(self, model, batch_size: int = 32, token_budget: int | None = None):
        if token_budget is None:
            token_budget = default_token_budget(model.device, model.encoder.max_length)
        if batch_size < 1 or token_budget < model.encoder.max_length:
            raise InputError(
                f"batch_size must be >= 1 and token_budget >= max_length ({model.encoder.max_length}); "
                f"got {batch_size}, {token_budget}"
            )
        self.model = model
        self.batch_size = batch_size
        self.token_budget = token_budget

    def score_pairs(self, queries: Sequence[str], docs: Sequence[str], batch_size: int | None = None) -> list[float]:
        """Scores for ``zip(queries, docs)``, in input order."""
        pairs = self.model.prepare(queries, docs)
        scores = [0.0] * len(pairs)
        indices, values = [], []
        with torch.inference_mode():
            # No batch waits for the device: the host lays out the next batch while the GPU runs this one.
            for batch in length_batches(pairs, batch_size or self.batch_size, self.token_budget):
                padded = collate(batch, self.model.encoder.pad_id, self.model.device)
                values.append(self.model.log_likelihood(padded))
                indices += padded.indices
            if values:
                for index, value in zip(indices, torch.cat(values).tolist()):
                    scores[index] = value
        return scores
