"""Which causal-LM families the reranker can score with, checked when a :class:`QPEFTModel` is built.

Every LM gets the same forward call (:func:`~pyserini_qpeft.model.scoring.mean_target_log_prob`): left-padded
rows with ``attention_mask`` and ``position_ids`` counted from each row's first real token, ``inputs_embeds``
where a soft prompt or hints go in, ``logits_to_keep`` and ``use_cache=False``. A family that ignores the mask or
the position ids scores a pair differently in a batch than alone; one that attends both ways sees the query it
is asked to predict; one without ``inputs_embeds`` cannot take a soft prompt. Those fail here, in one line,
instead of deep inside a forward or with silently wrong scores. Families lacking only ``logits_to_keep`` work
(they compute every position's logits, slower); those without ``position_ids`` but with positions from the mask
(ALiBi: Bloom, MPT) or none at all (Mamba) work too. Families tested end to end: ``tests/test_families.py``.
"""

from __future__ import annotations

import inspect

from pyserini_qpeft.errors import QPEFTError

_LEARNED_POSITIONS = (
    "its forward ignores position_ids and counts its learned positions from the first column, "
    "so a left-padded pair scores differently in a batch than alone"
)
# Measured with transformers 5: these accept the call but score wrongly (model_type -> what is missing).
UNSUPPORTED: dict[str, str] = {
    **dict.fromkeys(
        (
            "bart",
            "bigbird_pegasus",
            "blenderbot",
            "blenderbot-small",
            "marian",
            "mbart",
            "mvp",
            "pegasus",
            "plbart",
            "prophetnet",
            "trocr",
        ),
        _LEARNED_POSITIONS,
    ),
    "rwkv": "its forward ignores attention_mask, so left padding flows into the recurrent state",
    "cpmant": "it attends both ways over its input (CPM-Ant's context mask) and its forward takes no inputs_embeds",
    "xlnet": "it is a permutation LM that attends both ways, not left to right",
}
# Encoders that transformers also offers as causal LMs: causal only when this config flag is True.
_CAUSAL_FLAG = {"xlm": "causal"}  # the others: is_decoder
_ENCODER_TYPES = ("bert-generation",)


def _encoder_types() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return set(MODEL_FOR_MASKED_LM_MAPPING_NAMES) | set(_ENCODER_TYPES)


def _missing(lm, needs_inputs_embeds: bool) -> str | None:
    config = getattr(lm, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type in UNSUPPORTED:
        return UNSUPPORTED[model_type]
    if getattr(config, "is_encoder_decoder", False):
        return "it is an encoder-decoder model (config.is_encoder_decoder), not a decoder-only causal LM"
    flag = _CAUSAL_FLAG.get(model_type, "is_decoder")
    if model_type in _encoder_types() and not getattr(config, flag, False):
        return f"it attends both ways (config.{flag} is False), so it would see the query it scores"
    try:
        weight = getattr(lm.get_input_embeddings(), "weight", None)
    except (AttributeError, NotImplementedError):
        weight = None
    if weight is None or weight.dim() != 2:
        return "get_input_embeddings() gives no (vocabulary x width) embedding matrix"
    if needs_inputs_embeds:
        parameters = inspect.signature(lm.forward).parameters
        known = not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters.values())
        if known and "inputs_embeds" not in parameters:
            return "its forward takes no inputs_embeds, which the soft prompt and hints go in through"
    return None


def check_family(lm, needs_inputs_embeds: bool = True) -> None:
    """Raise :class:`QPEFTError` naming ``lm``'s family (``config.model_type``) and what it lacks, if the reranker
    cannot score with it (see the module docstring); ``needs_inputs_embeds`` is False for zero-shot scoring."""
    why = _missing(lm, needs_inputs_embeds)
    if why is not None:
        model_type = getattr(getattr(lm, "config", None), "model_type", None) or type(lm).__name__
        raise QPEFTError(
            f"model type {model_type!r} ({type(lm).__name__}) cannot be used as a Q-PEFT reranker: {why}; "
            "use a decoder-only causal LM such as Llama, Qwen, Gemma, Mistral, Phi-3, OLMo 2, GPT-2 or OPT"
        )
