"""Save and load the trainable parts of a Q-PEFT model (never the LM).

A checkpoint folder holds ``qpeft_config.json`` (variant, sizes, base model name and fingerprint),
and, when the variant has them, the soft prompt in peft's own format (``adapter_config.json`` +
``adapter_model.safetensors``) and the QD module (``qd_module.safetensors``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from .atomic import atomic_directory
from .config import CONFIG_NAME, QPEFTConfig
from .errors import InputError
from .qpeft_model import QPEFTModel, base_fingerprint

PROMPT_CONFIG = "adapter_config.json"
PROMPT_WEIGHTS = "adapter_model.safetensors"
QD_WEIGHTS = "qd_module.safetensors"


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder written by :func:`save_checkpoint`."""
    return (Path(path) / CONFIG_NAME).is_file()


def save_checkpoint(model: QPEFTModel, folder: str | os.PathLike) -> Path:
    """Write the config and trainable weights to ``folder`` (replaced as a whole, atomically)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    model.config.base_fingerprint = base_fingerprint(model.lm)
    staging = folder.with_name(folder.name + ".saving")
    shutil.rmtree(staging, ignore_errors=True)
    with atomic_directory(staging) as tmp:
        model.config.save(tmp)
        if model.prompt is not None:
            model.peft_config.save_pretrained(str(tmp))
            weight = model.prompt.embedding.weight.detach().float().cpu().contiguous()
            save_file({"prompt_embeddings": weight}, str(tmp / PROMPT_WEIGHTS))
        if model.qd is not None:
            save_file(_sparse_table(model), str(tmp / QD_WEIGHTS))
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


TABLE = "query_table.weight"


def _sparse_table(model: QPEFTModel) -> dict:
    """The QD state with the query table stored as the rows that differ from the LM's embeddings.

    The table starts as an exact copy of those embeddings and only rows of tokens seen in training move,
    so this keeps checkpoints small while restoring the table bit for bit.
    """
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.qd.state_dict().items()}
    table = state.pop(TABLE)
    base = model.lm.get_input_embeddings().weight.detach().float().cpu()
    rows = (table != base).any(dim=1).nonzero().flatten()
    state[TABLE + ".rows"] = rows.to(torch.int64).contiguous()
    state[TABLE + ".values"] = table[rows].contiguous()
    return state


def _dense_table(state: dict, model: QPEFTModel) -> dict:
    rows, values = state.pop(TABLE + ".rows", None), state.pop(TABLE + ".values", None)
    if rows is not None and values is not None:
        table = model.lm.get_input_embeddings().weight.detach().float().cpu().clone()
        table[rows] = values
        state[TABLE] = table
    return state


def _weights(folder: Path, name: str) -> dict:
    from safetensors.torch import load_file

    path = folder / name
    if not path.is_file():
        raise InputError(f"{path}: missing; the checkpoint is incomplete, save it again with save_pretrained")
    return load_file(str(path))


def load_checkpoint(folder: str | os.PathLike, lm, tokenizer, config: QPEFTConfig | None = None) -> QPEFTModel:
    """Rebuild a :class:`QPEFTModel` on ``lm`` from ``folder``; the LM must be the checkpoint's base model."""
    folder = Path(folder)
    config = config or QPEFTConfig.load(folder)
    found = base_fingerprint(lm)
    if config.base_fingerprint and config.base_fingerprint != found:
        raise InputError(
            f"{folder}: this checkpoint was trained on {config.base_model!r} (fingerprint {config.base_fingerprint}), "
            f"but the loaded LM differs (fingerprint {found}); load it with its own base model"
        )
    model = QPEFTModel(lm, tokenizer, config)
    if model.prompt is not None:
        weight = _weights(folder, PROMPT_WEIGHTS).get("prompt_embeddings")
        expected = tuple(model.prompt.embedding.weight.shape)
        if weight is None or tuple(weight.shape) != expected:
            raise InputError(f"{folder / PROMPT_WEIGHTS}: expected prompt_embeddings of shape {expected}")
        with torch.no_grad():
            model.prompt.embedding.weight.copy_(weight)
    if model.qd is not None:
        state = _dense_table(_weights(folder, QD_WEIGHTS), model)
        try:
            model.qd.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"{folder / QD_WEIGHTS}: does not match the {config.variant!r} module ({first})") from None
    return model
