"""The two baselines of the speed benchmark, over the same pairs as ``QPEFTReranker``.

- :func:`bare_forward`: the LM trunk (no head) over exactly the padded batches our scorer builds:
  the floor our scoring cannot beat.
- :func:`naive_scores`: what a user would write: pairs tokenised one by one, batches in input order
  padded on the right, ``model(..., labels=...)`` with full-vocabulary logits at every position, and
  the paper's per-pair top-k hint selection for Q-PEFT-R. Same prompt layout and same numbers as ours.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pyserini_qpeft.model.hint_selection import select_paper
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import EncodedPair, LeftPaddedBatch, collate, length_batches
from pyserini_qpeft.model.variants.retrieval import RetrievalHints


def our_batches(
    model: QPEFTModel, query: str, docs: Sequence[str], batch_size: int, token_budget: int
) -> list[LeftPaddedBatch]:
    """The padded batches ``QueryLikelihoodScorer`` feeds the LM for one query's documents."""
    pairs = model.prepare([query] * len(docs), list(docs))
    return [collate(b, model.encoder.pad_id, model.device) for b in length_batches(pairs, batch_size, token_budget)]


def bare_forward(model: QPEFTModel, batches: Sequence[LeftPaddedBatch]) -> None:
    """The LM's trunk (``base_model``, no LM head, no scoring) over the given batches."""
    trunk = model.lm.base_model
    with torch.inference_mode():
        for batch in batches:
            trunk(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
            )


def _naive_pair(model: QPEFTModel, query: str, doc: str) -> EncodedPair:
    encoder, module = model.encoder, model.hint_module
    q_ids = encoder.query_ids(query)
    d_ids = encoder.document_ids([doc])[0]
    prompt_slots, budget = model.prompt_slots, model.hint_budget(q_ids)
    d_ids = encoder.truncate(q_ids, d_ids, prompt_slots, budget)
    hints: list[int] = []
    if isinstance(module, RetrievalHints):  # the paper's per-pair selection, not one search per query
        q_vecs, table, allowed = module.selection_inputs(q_ids)
        hints = select_paper(q_vecs, q_ids, d_ids, table, allowed, module.num_hints)
        budget = len(hints)
    elif module is not None:
        prepared = module.prepare(q_ids, [d_ids])[0]
        hints, budget = prepared.tokens, prepared.slots
    pair = encoder.encode(q_ids, d_ids, 0, prompt_slots, budget)
    pair.hint_tokens = hints
    return pair


def naive_scores(model: QPEFTModel, query: str, docs: Sequence[str], batch_size: int) -> list[float]:
    """Mean log-probability of the query (and EOS) given each document, computed the straightforward way."""
    lm, pad = model.lm, model.encoder.pad_id
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(docs), batch_size):
            pairs = [_naive_pair(model, query, doc) for doc in docs[start : start + batch_size]]
            width = max(len(p.context) + len(p.target) for p in pairs)
            ids = torch.full((len(pairs), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            labels = torch.full_like(ids, -100)
            for row, pair in enumerate(pairs):
                sequence = pair.context + pair.target
                ids[row, : len(sequence)] = torch.tensor(sequence)
                mask[row, : len(sequence)] = 1
                labels[row, len(pair.context) : len(sequence)] = torch.tensor(pair.target)
            ids, mask, labels = ids.to(model.device), mask.to(model.device), labels.to(model.device)
            if model.prompt is None and model.hint_module is None:
                output = lm(input_ids=ids, attention_mask=mask, labels=labels)
            else:
                embeds = lm.get_input_embeddings()(ids)
                if model.prompt is not None:
                    slots = model.config.num_virtual_tokens
                    embeds[:, :slots] = model.prompt(torch.arange(slots, device=ids.device)).to(embeds.dtype)
                if model.hint_module is not None:
                    for row, (pair, vectors) in enumerate(zip(pairs, model.hint_vectors(pairs))):
                        embeds[row, pair.hint_at : pair.hint_at + pair.hint_slots] = vectors.to(embeds.dtype)
                output = lm(inputs_embeds=embeds, attention_mask=mask, labels=labels)
            log_probs = output.logits.float().log_softmax(-1)[:, :-1]
            targets = labels[:, 1:]
            keep = targets != -100
            picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            scores += ((picked * keep).sum(-1) / keep.sum(-1)).tolist()
    return scores


# SmolLM2-135M's shape (HuggingFaceTB/SmolLM2-135M-Instruct's config.json): speed does not depend on the weights.
SMOLLM2_135M = {"hidden": 576, "layers": 30, "heads": 9, "kv_heads": 3, "intermediate": 1536, "max_positions": 8192}


def random_llama(
    tokenizer,
    hidden: int = 2048,
    layers: int = 16,
    heads: int = 32,
    kv_heads: int = 8,
    intermediate: int = 8192,
    max_positions: int = 2048,
    device: str = "cpu",
    dtype=torch.bfloat16,
):
    """A Llama-style causal LM with random weights (about 1.07B parameters at the defaults, Llama-3.2-1B's shape)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.device(device):
        torch.manual_seed(0)
        lm = LlamaForCausalLM(config).to(dtype)
    return lm.eval()
