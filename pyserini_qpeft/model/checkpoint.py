"""Save and load the trainable parts of a Q-PEFT model (never the LM).

A checkpoint folder holds ``qpeft_config.json`` (variant, sizes, base model name and fingerprint, and the
size and sha256 of every other file the save wrote), and, when the variant has them, the soft prompt in
peft's own format (``adapter_config.json`` + ``adapter_model.safetensors``) and the hint module
(``hint_module.safetensors``; ``qd_module.safetensors`` in checkpoints of earlier versions, still read).

Saving writes only these fixed names, each atomically, beside whatever else the folder holds; it never
deletes or replaces a file it cannot prove is ours (a folder without our config is not ours). The config
goes first, carrying the checksums of the files that follow, so an interrupted (or concurrent) save can
only leave the old checkpoint, the new one, or a folder whose files do not match its config, which
loading refuses with "the checkpoint is incomplete, save it again".
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from pathlib import Path

import torch

from pyserini_qpeft.errors import InputError, first_line
from pyserini_qpeft.files.atomic import atomic_write, fsync_dir
from pyserini_qpeft.model.config import (
    CHECKPOINT_FILES,
    CONFIG_NAME,
    FORMAT_VERSION,
    HINT_WEIGHTS,
    OLD_HINT_WEIGHTS,
    PROMPT_CONFIG,
    PROMPT_WEIGHTS,
    QPEFTConfig,
)
from pyserini_qpeft.model.qpeft_model import QPEFTModel, base_fingerprint
from pyserini_qpeft.model.scoring import tokenizer_fingerprint
from pyserini_qpeft.model.variants import get_variant, hint_module_class

logger = logging.getLogger(__name__)

__all__ = ["is_checkpoint", "save_checkpoint", "load_checkpoint", "fingerprint_matches"]

TABLE = "query_table.weight"


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder written by :func:`save_checkpoint`."""
    return (Path(path) / CONFIG_NAME).is_file()


# -- saving ----------------------------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _peft_config_bytes(peft_config) -> bytes:
    """``adapter_config.json`` exactly as peft writes it (peft writes it into a private temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="pyserini_qpeft-") as tmp:
        peft_config.save_pretrained(tmp)
        return (Path(tmp) / PROMPT_CONFIG).read_bytes()


def _payload(model: QPEFTModel) -> dict[str, bytes]:
    """The bytes of every file the checkpoint has besides its config."""
    from safetensors.torch import save

    files = {}
    if model.prompt is not None:
        files[PROMPT_CONFIG] = _peft_config_bytes(model.peft_config)
        weight = model.prompt.embedding.weight.detach().float().cpu().contiguous()
        files[PROMPT_WEIGHTS] = save({"prompt_embeddings": weight})
    if model.hint_module is not None:
        files[HINT_WEIGHTS] = save(_sparse_table(model))
    return files


def _check_target(folder: Path) -> bool:
    """Refuse targets we may not write into; True when ``folder`` already holds our config."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: is a file, not a folder; save the checkpoint to a folder path")
    if not folder.exists():
        return False
    config_path = folder / CONFIG_NAME
    if config_path.is_file():
        return True
    if os.path.lexists(config_path):
        raise InputError(f"{config_path}: exists and is not a file; move it away or save to another folder")
    foreign = [name for name in CHECKPOINT_FILES if os.path.lexists(folder / name)]
    if foreign:
        raise InputError(
            f"{folder}: holds {', '.join(foreign)} but no {CONFIG_NAME}, so they are not from a Q-PEFT "
            "checkpoint and will not be replaced; move them away or save to another folder"
        )
    return False


def remove_temporaries(folder: Path) -> None:
    """Remove the temporary files that killed saves of our file names left in ``folder`` (``.<name>.*.tmp``); only
    for folders wholly ours (a user's folder may hold files of that shape)."""
    names = (CONFIG_NAME, *CHECKPOINT_FILES)
    for entry in folder.iterdir():
        if entry.is_file() and any(entry.name.startswith(f".{n}.") and entry.name.endswith(".tmp") for n in names):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def save_checkpoint(model: QPEFTModel, folder: str | os.PathLike) -> Path:
    """Write the config and trainable weights into ``folder`` (created if missing) and return it.

    Only our fixed file names are written, each atomically; other files in the folder are left alone.
    Our weight files that the new variant does not use are removed only when the folder held our config.
    """
    folder = Path(folder)
    ours = _check_target(folder)
    files = _payload(model)
    manifest = {name: {"size": len(data), "sha256": _sha256(data)} for name, data in files.items()}
    saved = model.config.replace(
        base_fingerprint=base_fingerprint(model.lm),
        tokenizer_fingerprint=tokenizer_fingerprint(model.tokenizer),
        files=manifest,
        format_version=FORMAT_VERSION,
    )
    # The config first: from here on the folder's files must match its checksums, so a reader sees the old
    # checkpoint (before this rename), the new one (after the last rename below), or "incomplete".
    with atomic_write(folder / CONFIG_NAME) as handle:
        handle.write(saved.to_json())
    fsync_dir(folder)
    for name, data in files.items():
        with atomic_write(folder / name, "wb") as handle:
            handle.write(data)
    if ours:
        for name in CHECKPOINT_FILES:
            stale = folder / name
            if name not in files and (stale.is_file() or stale.is_symlink()):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
                    logger.info("removed %s (left by an earlier save of another variant)", stale)
    fsync_dir(folder)
    for key in ("base_fingerprint", "tokenizer_fingerprint", "files", "format_version"):  # the model's config: as saved
        setattr(model.config, key, getattr(saved, key))
    logger.info("saved the %r checkpoint to %s", saved.variant, folder)
    return folder


def _sparse_table(model: QPEFTModel) -> dict:
    """The hint module's state with the query table stored as the rows that differ from the LM's embeddings.

    The table starts as an exact copy of those embeddings (in the LM's dtype, as float32) and only rows of
    tokens seen in training move, so this keeps checkpoints small while restoring the table bit for bit when
    the LM is loaded in the same dtype; in another dtype the unchanged rows follow that dtype's embeddings.
    """
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.hint_module.state_dict().items()}
    table = state.pop(TABLE)
    base = model.lm.get_input_embeddings().weight.detach().float().cpu()
    rows = (table != base).any(dim=1).nonzero().flatten()
    state[TABLE + ".rows"] = rows.to(torch.int64).contiguous()
    state[TABLE + ".values"] = table[rows].contiguous()
    return state


# -- loading ---------------------------------------------------------------------------------------------
def _dense_table(state: dict, model: QPEFTModel, path: Path) -> dict:
    """The full query table: the LM's embeddings (in the loading dtype, as float32) with the stored rows."""
    rows, values = state.pop(TABLE + ".rows", None), state.pop(TABLE + ".values", None)
    if rows is None or values is None:
        return state
    base = model.lm.get_input_embeddings().weight.detach()
    vocab, dim = base.shape
    if (
        rows.dim() != 1
        or rows.dtype != torch.int64
        or values.shape != (rows.shape[0], dim)
        or (rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= vocab))
    ):
        raise InputError(
            f"{path}: the stored query-table rows do not fit the LM's {vocab}x{dim} embeddings; "
            "load it with its own base model"
        )
    table = base.float().cpu().clone()
    table[rows] = values.float()
    state[TABLE] = table
    return state


def fingerprint_matches(recorded: str, lm) -> bool:
    """Whether ``lm`` is the base model a checkpoint recorded (any dtype, any device); an empty fingerprint
    matches any LM."""
    if not recorded:
        return True
    if recorded.startswith("v2:"):
        return recorded == base_fingerprint(lm)
    raise InputError(
        f"base_fingerprint={recorded!r} is not a fingerprint this pyserini_qpeft knows; "
        "upgrade pyserini_qpeft, or save the checkpoint again"
    )


def _weights_limit(lm) -> int:
    """The most bytes a weight file of a checkpoint on ``lm`` can need: twice the LM's parameters in float32
    (the trainable parts are a fraction of the LM; the query table is at most a copy of its embeddings)."""
    return 8 * sum(p.numel() for p in lm.parameters()) + (1 << 20)


def _read_file(path: Path, size: int, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of ``size`` bytes (as the config records) and at
    most ``limit``; checked on the open descriptor, so a FIFO, a device or a huge sparse file is never read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; the checkpoint is incomplete, save it again with save_pretrained") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); save the checkpoint again") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file; the checkpoint's files must be plain files, save it again")
        if info.st_size != size:
            raise InputError(
                f"{path}: {info.st_size} bytes, but {CONFIG_NAME} records {size} (an interrupted save, or files "
                "from two saves); the checkpoint is incomplete, save it again"
            )
        if info.st_size > limit:
            raise InputError(
                f"{path}: {info.st_size} bytes, more than a Q-PEFT checkpoint on this base model can hold "
                f"({limit}); save the checkpoint again"
            )
        return handle.read(info.st_size)


def hint_file(config: QPEFTConfig) -> str:
    """The name of the hint module's weights in a checkpoint: the old name where its config lists that one."""
    return OLD_HINT_WEIGHTS if OLD_HINT_WEIGHTS in config.files else HINT_WEIGHTS


def _read_files(folder: Path, config: QPEFTConfig, limit: int) -> dict[str, bytes]:
    """The bytes of every file the config lists (which must include those the variant needs), each at most ``limit``."""
    spec = get_variant(config.variant)
    needed = []
    if spec.uses_prompt:
        needed += [PROMPT_CONFIG, PROMPT_WEIGHTS]
    if spec.uses_hints:
        needed += [hint_file(config)]
    unlisted = [name for name in needed if name not in config.files]
    if unlisted:
        raise InputError(
            f"{folder / CONFIG_NAME}: lists no {', '.join(unlisted)}, which the {config.variant!r} "
            "variant needs; the checkpoint is incomplete, save it again"
        )
    return {name: _read_file(folder / name, entry["size"], limit) for name, entry in config.files.items()}


def _verify(folder: Path, contents: dict[str, bytes], config: QPEFTConfig) -> None:
    """Each file must be the one the config's save wrote (its size is checked when read, here its sha256)."""
    for name, entry in config.files.items():
        if _sha256(contents[name]) != entry["sha256"]:
            raise InputError(
                f"{folder / name}: its sha256 differs from the one {CONFIG_NAME} records (an interrupted save, "
                "or files from two saves); the checkpoint is incomplete, save it again"
            )


def _check_shapes(folder: Path, tensors: dict[str, dict[str, torch.Tensor]], lm, tokenizer, config) -> None:
    """The stored tensors must have the shapes ``config`` gives the trainable parts, checked before those are
    built, so a config with huge sizes is refused instead of allocated (the hint module is sized on the meta
    device, which allocates nothing)."""
    dim = lm.get_input_embeddings().weight.shape[1]
    sizes = "num_virtual_tokens, mlp_hidden, attention_heads"
    if PROMPT_WEIGHTS in tensors:
        weight = tensors[PROMPT_WEIGHTS].get("prompt_embeddings")
        expected = (config.num_virtual_tokens, dim)
        if weight is None or tuple(weight.shape) != expected:
            found = "none" if weight is None else tuple(weight.shape)
            raise InputError(
                f"{folder / PROMPT_WEIGHTS}: holds prompt_embeddings of shape {found}, but {CONFIG_NAME} "
                f"(num_virtual_tokens={config.num_virtual_tokens}) and the LM need {expected}; "
                "save the checkpoint again"
            )
    name = hint_file(config)
    if name in tensors:
        try:
            with torch.device("meta"):
                module = hint_module_class(get_variant(config.variant)).from_model(lm, tokenizer, config)
        except (AssertionError, ValueError, RuntimeError) as exc:
            raise InputError(
                f"{folder / CONFIG_NAME}: its sizes ({sizes}) do not fit the LM: {first_line(exc)}"
            ) from None
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items() if k != TABLE}
        stored = {k: tuple(v.shape) for k, v in tensors[name].items() if not k.startswith(TABLE + ".")}
        for key in sorted(set(expected) | set(stored)):
            if expected.get(key) != stored.get(key):
                raise InputError(
                    f"{folder / name}: {key} has shape {stored.get(key)}, but {CONFIG_NAME}'s sizes ({sizes}) "
                    f"give {expected.get(key)}; save the checkpoint again"
                )


def _tensors(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as exc:  # safetensors raises its own error type, and others for odd headers
        raise InputError(
            f"{path}: not a valid safetensors file ({first_line(exc)}); save the checkpoint again"
        ) from None


def load_checkpoint(folder: str | os.PathLike, lm, tokenizer, config: QPEFTConfig | None = None) -> QPEFTModel:
    """Rebuild a :class:`QPEFTModel` on ``lm`` from ``folder``; the LM must be the checkpoint's base model
    (in any dtype, on any device). ``config`` defaults to the folder's ``qpeft_config.json``."""
    folder = Path(folder)
    config = config or QPEFTConfig.load(folder)
    try:
        same = fingerprint_matches(config.base_fingerprint, lm)
    except InputError as exc:
        raise InputError(f"{folder / CONFIG_NAME}: {exc}") from None
    if not same:
        raise InputError(
            f"{folder}: this checkpoint was trained on {config.base_model!r} (fingerprint {config.base_fingerprint}), "
            f"but the loaded LM is a different model (its embeddings differ; fingerprint {base_fingerprint(lm)}); "
            "load it with its own base model"
        )
    framing = tokenizer_fingerprint(tokenizer)
    if config.tokenizer_fingerprint and config.tokenizer_fingerprint != framing:
        raise InputError(
            f"{folder}: this checkpoint was trained with pairs framed as {config.tokenizer_fingerprint!r} (token ids), "
            f"but the loaded tokenizer gives {framing!r}; load the tokenizer it was trained with (a GGUF model "
            "converted by an older pyserini_qpeft: delete it under $PYSERINI_QPEFT_CACHE to convert it again)"
        )
    contents = _read_files(folder, config, _weights_limit(lm))
    hints = hint_file(config)
    tensors = {name: _tensors(folder / name, contents[name]) for name in (PROMPT_WEIGHTS, hints) if name in contents}
    _verify(folder, contents, config)
    _check_shapes(folder, tensors, lm, tokenizer, config)
    try:
        model = QPEFTModel(lm, tokenizer, config)
    except InputError as exc:
        raise InputError(f"{folder / CONFIG_NAME}: {exc}") from None
    if model.prompt is not None:
        with torch.no_grad():
            model.prompt.embedding.weight.copy_(tensors[PROMPT_WEIGHTS]["prompt_embeddings"])
    if model.hint_module is not None:
        state = _dense_table(tensors[hints], model, folder / hints)
        try:
            model.hint_module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())[:300]
            raise InputError(
                f"{folder / hints}: does not match the {config.variant!r} module ({detail}); save the checkpoint again"
            ) from None
    return model
