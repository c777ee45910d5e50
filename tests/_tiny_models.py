"""Tiny random-weight causal LMs and a small BPE tokenizer, for tests that need only shapes and arithmetic."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl"
FALLBACK_TEXTS = [
    "Cells respond to stress by activating signalling pathways.",
    "The vaccine reduced infection rates in the elderly cohort.",
    "Mutations in the gene were associated with higher cancer risk.",
]


@functools.lru_cache(maxsize=None)
def tiny_tokenizer(vocab_size: int = 600):
    """A byte-level BPE tokenizer trained in memory (no downloads), with <pad>, <s> and </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = FALLBACK_TEXTS
    if CORPUS.is_file():
        with open(CORPUS, encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line, _ in zip(handle, range(200))]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(vocab_size: int = 600, seed: int = 0, max_positions: int = 256):
    """A 2-layer Llama-style model with random weights, in eval mode, fp32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).eval()
    model.requires_grad_(False)
    return model


def tiny_gpt2(vocab_size: int = 600, seed: int = 0):
    """A 2-layer GPT-2 (absolute positions: wrong position ids would change its scores)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256,
                        bos_token_id=1, eos_token_id=2)
    model = GPT2LMHeadModel(config).eval()
    model.requires_grad_(False)
    return model
