"""``QPEFTConfig``: what a Q-PEFT reranker is, saved as JSON beside its weights."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Dict

from .atomic import atomic_write
from .errors import InputError
from .text import read_text
from .model_loading import DEFAULT_MODEL

# 2: ``files`` (size and sha256 of each file the checkpoint wrote, verified on load) and "v2:" fingerprints.
# Format 1 configs (no ``files``, 16-hex fingerprints) still load.
FORMAT_VERSION = 2
CONFIG_NAME = "qpeft_config.json"
VARIANTS = ("zeroshot", "prompt", "r", "a")
PROMPT_CONFIG = "adapter_config.json"
PROMPT_WEIGHTS = "adapter_model.safetensors"
QD_WEIGHTS = "qd_module.safetensors"
CHECKPOINT_FILES = (PROMPT_CONFIG, PROMPT_WEIGHTS, QD_WEIGHTS)  # the files a checkpoint writes beside its config

_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXPECTED = {  # annotation -> (accepted Python types, what to tell the user)
    "str": ((str,), "a string"),
    "int": ((int,), "an integer"),
    "float": ((int, float), "a number"),
    "bool": ((bool,), "true or false (a JSON boolean, not a string or number)"),
    "Dict[str, Dict]": ((dict,), "an object"),
}


@dataclass
class QPEFTConfig:
    """Variant and sizes of the trainable parts; the LM itself is named, never stored.

    variant: "zeroshot" (no soft prompt, no hints), "prompt" (soft prompt only),
    "r" (soft prompt + retrieved hint tokens), "a" (soft prompt + attention hints).
    ``base_fingerprint`` and ``files`` are written by ``save_checkpoint`` and checked on load.
    """

    base_model: str = DEFAULT_MODEL
    variant: str = "zeroshot"
    num_virtual_tokens: int = 10
    prompt_init_text: str = "Given the hints, write a question for the passage"
    k: int = 10
    attention_heads: int = 2
    mlp_hidden: int = 0  # 0: the LM's hidden size
    filter_stopwords: bool = True
    filter_nonalpha: bool = True
    hint_backend: str = "auto"
    max_length: int = 512
    base_fingerprint: str = ""  # identifies the base LM (see qpeft_model.base_fingerprint), checked on load
    files: Dict[str, Dict] = field(default_factory=dict)  # file name -> {"size", "sha256"}, verified on load
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        def bad(name: str, fix: str) -> InputError:
            return InputError(f"QPEFTConfig.{name}={getattr(self, name)!r} is invalid: {fix}")

        for spec in fields(self):  # types first: the value checks below compare numbers
            accepted, described = _EXPECTED[str(spec.type)]
            value = getattr(self, spec.name)
            if not isinstance(value, accepted) or (bool not in accepted and isinstance(value, bool)):
                raise bad(spec.name, f"expected {described}, got {type(value).__name__}")
        if self.variant not in VARIANTS:
            raise bad("variant", f"use one of {', '.join(VARIANTS)}")
        if self.variant != "zeroshot" and self.num_virtual_tokens < 1:
            raise bad("num_virtual_tokens", "use at least 1 virtual token")
        if self.k < 1:
            raise bad("k", "use at least 1 hint token")
        if self.attention_heads < 1:
            raise bad("attention_heads", "use at least 1 head")
        if self.mlp_hidden < 0:
            raise bad("mlp_hidden", "use 0 (the LM's hidden size) or a positive width")
        if self.hint_backend not in ("auto", "faiss", "torch"):
            raise bad("hint_backend", "use 'auto', 'faiss' or 'torch'")
        if self.max_length < 16:
            raise bad("max_length", "use at least 16 tokens")
        if self.format_version > FORMAT_VERSION:
            raise bad("format_version",
                      f"this pyserini_qpeft reads format {FORMAT_VERSION} and older; upgrade pyserini_qpeft")
        for name, entry in self.files.items():
            if name not in CHECKPOINT_FILES:
                raise bad("files", f"{name!r} is not a checkpoint file ({', '.join(CHECKPOINT_FILES)}); "
                                   "save the checkpoint again")
            if (not isinstance(entry, dict) or set(entry) != {"size", "sha256"}
                    or type(entry["size"]) is not int or entry["size"] < 0
                    or not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"])):
                raise bad("files", f"the entry for {name} must be {{\"size\": bytes, \"sha256\": 64 hex digits}}; "
                                   "save the checkpoint again")

    @property
    def uses_prompt(self) -> bool:
        return self.variant != "zeroshot"

    @property
    def uses_hints(self) -> bool:
        return self.variant in ("r", "a")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``qpeft_config.json`` in ``folder`` atomically."""
        path = Path(folder) / CONFIG_NAME
        with atomic_write(path) as handle:
            handle.write(self.to_json())
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "QPEFTConfig":
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise InputError(f"{path}: not found; is {folder} a Q-PEFT checkpoint folder (made by save_pretrained)?")
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}; save the checkpoint again")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            version = data.get("format_version")
            newer = type(version) is int and version > FORMAT_VERSION
            fix = "upgrade pyserini_qpeft" if newer else "remove them"
            raise InputError(f"{path}: unknown keys {unknown}; {fix}")
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
