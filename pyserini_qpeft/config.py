"""``QPEFTConfig``: what a Q-PEFT reranker is, saved as JSON beside its weights."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import InputError
from .text import read_text
from .model_loading import DEFAULT_MODEL

FORMAT_VERSION = 1
CONFIG_NAME = "qpeft_config.json"
VARIANTS = ("zeroshot", "prompt", "r", "a")


@dataclass
class QPEFTConfig:
    """Variant and sizes of the trainable parts; the LM itself is named, never stored.

    variant: "zeroshot" (no soft prompt, no hints), "prompt" (soft prompt only),
    "r" (soft prompt + retrieved hint tokens), "a" (soft prompt + attention hints).
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
    base_fingerprint: str = ""  # hash of the base LM's embeddings, checked on load
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        def bad(name: str, fix: str) -> InputError:
            return InputError(f"QPEFTConfig.{name}={getattr(self, name)!r} is invalid: {fix}")

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
        if not isinstance(self.format_version, int) or self.format_version > FORMAT_VERSION:
            raise bad("format_version", f"this pyserini_qpeft reads format {FORMAT_VERSION} and older; upgrade pyserini_qpeft")

    @property
    def uses_prompt(self) -> bool:
        return self.variant != "zeroshot"

    @property
    def uses_hints(self) -> bool:
        return self.variant in ("r", "a")

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / CONFIG_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", encoding="utf-8")
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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            version = data.get("format_version")
            newer = isinstance(version, int) and version > FORMAT_VERSION
            fix = "upgrade pyserini_qpeft" if newer else "remove them"
            raise InputError(f"{path}: unknown keys {unknown}; {fix}")
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
