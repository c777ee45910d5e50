"""Tiny random-weight causal LMs and a small BPE tokenizer, for tests that need only shapes and arithmetic."""

from __future__ import annotations

import functools

import torch

# The tokenizer's training text is fixed here, so the tiny tokenizer is the same on every machine,
# whether or not ../shared/data exists.
TRAINING_TEXT = """
Cells respond to stress by activating signalling pathways that control growth, repair and death.
The vaccine reduced infection rates in the elderly cohort compared with placebo over two winters.
Mutations in the gene were associated with higher cancer risk in families with early onset disease.
Aspirin lowers the risk of heart attack in adults with diabetes, but bleeding events increase.
Vitamin D deficiency is common among older people living in northern countries during winter.
Radiation therapy changes gene expression in tumour cells and in the surrounding normal tissue.
Exercise improves insulin sensitivity and lowers blood pressure in patients with metabolic syndrome.
Smoking raises the risk of lung cancer, chronic obstructive pulmonary disease and stroke.
MicroRNA levels in plasma predict the response of breast tumours to chemotherapy.
Stem cells derived from bone marrow differentiate into bone, cartilage and fat in culture.
The protein binds to DNA at promoter regions and recruits enzymes that modify chromatin.
Mice lacking the receptor showed impaired memory and reduced synaptic plasticity in the hippocampus.
Antibiotic resistance spreads between bacteria through plasmids carrying resistance genes.
Obesity in childhood is linked to type 2 diabetes, hypertension and fatty liver in adulthood.
The randomised trial found no significant difference in mortality between the two treatment arms.
Inflammation of the arteries drives atherosclerosis; statins reduce cholesterol and cardiac events.
Sleep deprivation impairs attention, glucose regulation and the immune response to infection.
Zinc supplements shortened the duration of the common cold in some but not all studies.
Pregnant women with anaemia had a higher rate of preterm birth and low birth weight infants.
The virus enters host cells by binding a surface receptor and fusing with the membrane.
Single cell sequencing revealed distinct populations of T cells in the tumour microenvironment.
Mitochondrial dysfunction contributes to neurodegeneration in Parkinson's and Alzheimer's disease.
Dietary fibre feeds gut bacteria that produce short chain fatty acids with anti-inflammatory effects.
Telomere length shortens with age and with chronic psychological stress in several cohorts.
Kinase inhibitors block tumour growth in lung adenocarcinoma with activating EGFR mutations.
Hospital readmission within thirty days was lower after the nurse-led discharge programme.
Macrophages engulf dead cells and secrete cytokines such as interleukin 6 and tumour necrosis factor.
Air pollution exposure during pregnancy was associated with asthma in the children at age five.
Blood glucose, HbA1c and body mass index were measured at baseline, 6 months and 12 months.
Genome-wide association studies identified 42 loci linked to height in European populations.
"""


@functools.cache
def tiny_tokenizer(vocab_size: int = 600):
    """A byte-level BPE tokenizer trained in memory (no downloads), with <pad>, <s> and </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [line for line in TRAINING_TEXT.splitlines() if line.strip()]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(vocab_size: int = 600, seed: int = 0, max_positions: int = 256):
    """A 2-layer Llama-style model with random weights, in eval mode, fp32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).eval()
    model.requires_grad_(False)
    return model


def tiny_gpt2(vocab_size: int = 600, seed: int = 0):
    """A 2-layer GPT-2 (absolute positions: wrong position ids would change its scores)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=256, bos_token_id=1, eos_token_id=2
    )
    model = GPT2LMHeadModel(config).eval()
    model.requires_grad_(False)
    return model


def tiny_reranker(**config_fields):
    """A ``QPEFTReranker`` over :func:`tiny_llama` and :func:`tiny_tokenizer`; ``config_fields`` go to QPEFTConfig."""
    from pyserini_qpeft import QPEFTReranker
    from pyserini_qpeft.model.config import QPEFTConfig

    tokenizer = tiny_tokenizer()
    return QPEFTReranker.from_lm(tiny_llama(len(tokenizer)), tokenizer, QPEFTConfig(**config_fields))


# Each family's own config keys: 2 layers, width 32, 4 heads (2 key/value heads where the family has them),
# 256 positions. Gemma families size heads by head_dim; their sliding window (and Mistral's) is short enough
# that a 96-token pair crosses it. Special ids 0/1/2 are tiny_tokenizer()'s <pad>, <s> and </s>.
_DECODER = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256
)
_GQA = dict(_DECODER, num_key_value_heads=2)
_SLIDING = dict(head_dim=8, sliding_window=32, layer_types=["sliding_attention", "full_attention"])
FAMILY_CONFIGS: dict[str, dict] = {
    "llama": _GQA,
    "qwen2": _GQA,
    "qwen3": dict(_GQA, head_dim=8),
    "gemma2": dict(_GQA, **_SLIDING, query_pre_attn_scalar=8),
    "gemma3_text": dict(_GQA, **_SLIDING, query_pre_attn_scalar=8),
    "mistral": dict(_GQA, sliding_window=32),
    "phi3": _GQA,
    "olmo2": _GQA,
    "gpt2": dict(n_embd=32, n_inner=64, n_layer=2, n_head=4, n_positions=256),
    "opt": dict(
        hidden_size=32,
        ffn_dim=64,
        word_embed_proj_dim=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=256,
    ),
}


def tiny_family(model_type: str, vocab_size: int, seed: int = 0):
    """A tiny random-weight causal LM of ``model_type`` (a key of :data:`FAMILY_CONFIGS`), eval mode, fp32, frozen."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(
        model_type, vocab_size=vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2, **FAMILY_CONFIGS[model_type]
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).to(torch.float32).eval()
    model.requires_grad_(False)
    return model


def tiny_gguf(path):
    """A valid GGUF of two small float32 tensors and a few metadata keys (8 KB), made with the gguf package."""
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.block_count", 1)
    writer.add_uint32("tokenizer.ggml.eos_token_id", 2)
    writer.add_tensor("token_embd.weight", np.arange(64 * 16, dtype=np.float32).reshape(64, 16))
    writer.add_tensor("output.weight", np.ones((64, 16), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
