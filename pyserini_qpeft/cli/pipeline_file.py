"""The one-file YAML pipeline: what it may say, checked up front with messages that name the file, line and key.

Each section is a pydantic model below; its fields are the section's keys, with their types and defaults:

    collection:  Collection       the BEIR folder to index (optional when index.path exists)
    index:       Index            where the Lucene index is or goes, and when to build it
    topics:      Topics           a BEIR split or a topics file; beir defaults to collection.beir
    first_stage: FirstStage       BM25
    reranker:    RerankerOptions  optional: without it the run is BM25 only
    output:      Output           the TREC run to write
    evaluation:  Evaluation       qrels default to the topics' split

Types and bounds are checked strictly by pydantic (no "5" for 5, unknown keys refused); paths are relative to the
YAML file. ``index.path``, ``topics.file`` and ``evaluation.qrels`` may also be Pyserini's names
(``beir-v1.0.0-scifact.flat``, ``beir-v1.0.0-scifact-test``), resolved here from Pyserini's cache; a file or folder
of that name beside the YAML file wins.

``Topics``, ``FirstStage`` and ``RerankerOptions`` also define the flags of
``search`` and ``rerank`` (``pyserini_qpeft.cli.common.add_options``), which keep their own defaults where noted.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from pyserini_qpeft.cli.yaml_input import load_yaml
from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.model.config import Settings, describe
from pyserini_qpeft.model.loading import DTYPE_NAMES
from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS
from pyserini_qpeft.runs.fusion import FROM_CHECKPOINT
from pyserini_qpeft.text import read_text

DTYPE_CHOICES = tuple(DTYPE_NAMES)  # the names resolve_dtype reads
PATH = {"path": True}
PYSERINI_PATH = {"path": True, "pyserini": True}


class Collection(Settings):
    beir: str | None = Field(None, json_schema_extra=PATH)


class Index(Settings):
    path: str | None = Field(None, json_schema_extra=PYSERINI_PATH)  # a folder, or a Pyserini prebuilt index name
    build: Literal["auto", "always", "never"] = "auto"  # auto: only when index.path does not exist


class Topics(Settings):
    beir: str | None = Field(
        None,
        description="BEIR folder whose queries.jsonl and qrels/<split>.tsv give the topics",
        json_schema_extra={"metavar": "DIR", **PATH},
    )
    split: str = Field("test", description="BEIR split whose judged queries are used")
    file: str | None = Field(
        None,
        description="topics file with 'qid<TAB>query' lines, or a Pyserini topics name (e.g. beir-v1.0.0-scifact-test)",
        json_schema_extra={"flags": ["--topics"], "metavar": "FILE|NAME", **PYSERINI_PATH},
    )
    max_queries: int | None = Field(
        None, ge=1, description="use only the first N topics", json_schema_extra={"metavar": "N"}
    )


class FirstStage(Settings):
    hits: int = Field(100, ge=1, description="hits per query")
    threads: int = Field(1, description="search threads")
    k1: float = Field(0.9, description="BM25 k1")
    b: float = Field(0.4, description="BM25 b")


class RerankerOptions(Settings):
    """How to load and run a reranker: the YAML ``reranker:`` section and the reranking flags of the CLI."""

    model: str | None = Field(
        None,
        description="causal LM id or folder, or a saved Q-PEFT checkpoint folder",
        json_schema_extra={"metavar": "MODEL"},
    )
    depth: int | None = Field(
        20,
        ge=1,
        description="rerank only the top N hits of each query",
        json_schema_extra={"flags": ["--rerank-depth", "--depth"], "metavar": "N", "none": "all"},
    )
    batch_size: int = Field(32, ge=1, description="pairs per forward pass")
    token_budget: int | None = Field(
        None,
        ge=1,
        description="padded tokens per forward pass",
        json_schema_extra={"none": "2048 on CPU, 8192 on GPU"},
    )
    max_length: int | None = Field(
        None,
        ge=16,  # room for the framing words and a query
        description="tokens per pair; documents are cut to fit",
        json_schema_extra={"none": "the checkpoint's, else 512"},
    )
    device: str | None = Field(
        None, description="cpu, cuda, cuda:N or mps", json_schema_extra={"none": "cuda if available, else cpu"}
    )
    dtype: Literal[DTYPE_CHOICES] = Field(
        "auto",
        description="auto, float32, bfloat16 or float16, or fp32/bf16/fp16; auto: bfloat16 where the GPU or CPU has "
        "native bf16 arithmetic, else float32",
        json_schema_extra={"metavar": "DTYPE"},
    )
    fusion_weight: float | None = Field(
        None,
        ge=0,
        le=1,
        description="the first stage's share W when fusing scores per query: "
        "W * minmax(first stage) + (1 - W) * minmax(reranker)",
        json_schema_extra={"metavar": "W", "none": "the checkpoint's, picked on its dev split; a bare LM has none"},
    )
    fusion: bool = Field(
        True,
        description="no fusion: the reranker's scores alone",
        json_schema_extra={"flags": ["--no-fusion"], "action": "store_false"},
    )

    @field_validator("fusion_weight", mode="before")
    @classmethod
    def _finite_weight(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes no bound, so say what is wanted
            raise PydanticCustomError("fusion_weight", "Input should be a number from 0 to 1 (the first stage's share)")
        return value

    @property
    def fusion_choice(self) -> float | str | None:
        """``rerank_run_to_file``'s ``fusion_weight``: None without fusion, W when given, else the checkpoint's."""
        if not self.fusion:
            return None
        return FROM_CHECKPOINT if self.fusion_weight is None else self.fusion_weight


class Output(Settings):
    run: str | None = Field(None, json_schema_extra=PATH)
    tag: str | None = None  # qpeft, or qpeft-fusedW when fused (bm25 for a BM25-only run)
    resume: bool = False


class Evaluation(Settings):
    qrels: str | None = Field(None, json_schema_extra=PYSERINI_PATH)  # a file, or a Pyserini qrels name
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), min_length=1)


class PipelineConfig(Settings):
    """The whole file: one field per section; ``reranker`` and ``evaluation`` may be None (not run)."""

    collection: Collection = Field(default_factory=Collection)
    index: Index = Field(default_factory=Index)
    topics: Topics = Field(default_factory=Topics)
    first_stage: FirstStage = Field(default_factory=FirstStage)
    reranker: RerankerOptions | None = None
    output: Output = Field(default_factory=Output)
    evaluation: Evaluation | None = Field(default_factory=Evaluation)


# Each section's name -> its model (PipelineConfig's fields, in order).
SECTIONS: dict[str, type[Settings]] = {
    name: next(kind for kind in (info.annotation, *typing.get_args(info.annotation)) if isinstance(kind, type))
    for name, info in PipelineConfig.model_fields.items()
}


def _dotted(loc: Sequence[Any]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


class _Source:
    """Where a value came from: ``file:line`` through the YAML node tree, or the ``--set`` that gave it."""

    def __init__(self, path: Path, root: Any):
        self.path = path
        self.root = root
        self.overrides: dict[tuple[str, str], str] = {}

    def line(self, loc: Sequence[Any]) -> int | None:
        """The line of the deepest key (or list item) of ``loc`` found in the file (the last of repeated keys)."""
        import yaml

        node, line = self.root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                found = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
                if not found:
                    break
                key, node = found[-1]
                line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def where(self, *loc: Any) -> str:
        """``--set section.key=value`` when that gave the value, else ``file:line`` (or the file alone)."""
        override = self.overrides.get(tuple(loc[:2]))
        if override is None and len(loc) == 1 and self.line(loc) is None:
            override = next((text for (section, _), text in self.overrides.items() if section == loc[0]), None)
        if override is not None:
            return f"--set {override}"
        line = self.line(loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def explain(self, error: ErrorDetails) -> str:
        loc = error["loc"]
        if error["type"] == "extra_forbidden":
            what, allowed = ("section", SECTIONS) if len(loc) == 1 else ("key", SECTIONS[loc[0]].model_fields)
            return f"{self.where(*loc)}: unknown {what} '{_dotted(loc)}'; allowed: {', '.join(allowed)}"
        if error["type"] == "model_type":  # a section that is not a mapping
            error = {**error, "msg": "Input should be a valid dictionary"}
        return f"{self.where(*loc)}: '{_dotted(loc)}' = {short_repr(error['input'])}: {describe(error)}"


def parse_override(text: str) -> tuple:
    """``section.key=value`` with the value read as YAML (``--set reranker.depth=50``), checked as the file is
    (:mod:`pyserini_qpeft.cli.yaml_input`)."""
    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise InputError(f"--set {short_repr(text)}: use section.key=value, e.g. --set reranker.depth=50")
    try:
        return parts[0], parts[1], load_yaml(value, "--set")[0]
    except InputError as exc:
        raise InputError(f"--set {short_repr(text)}: {str(exc).removeprefix('--set: ')}") from None


def _resolve_paths(config: PipelineConfig, base: Path) -> None:
    """Path fields made absolute against ``base``; those that may be Pyserini names stay as written when they could
    be one (:func:`_check` resolves them)."""
    from pyserini_qpeft.lucene.names import could_be_name

    for section in (getattr(config, name) for name in SECTIONS):
        for key, info in type(section).model_fields.items() if section is not None else ():
            extra, value = info.json_schema_extra or {}, getattr(section, key)
            if not extra.get("path") or not isinstance(value, str) or os.path.isabs(value):
                continue
            if not (extra.get("pyserini") and could_be_name(value)):
                setattr(section, key, str((base / os.path.expanduser(value)).resolve()))


def load_pipeline_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read and validate a pipeline YAML file, applying ``--set`` overrides first."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pipeline config not found")
    data, root = load_yaml(read_text(path), str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be a mapping with sections {', '.join(SECTIONS)}")
    source = _Source(path, root)
    for override in overrides:
        section, key, value = parse_override(override)
        if data.get(section) is None:
            data[section] = {}
        if not isinstance(data[section], dict):
            raise InputError(f"--set {override}: '{section}' in {path} is not a mapping")
        data[section][key] = value
        source.overrides[(section, key)] = override
    data = {name: {} if value is None else value for name, value in data.items()}  # "reranker:" alone: defaults
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        first = min(exc.errors(), key=lambda e: (source.line(e["loc"]) is None, source.line(e["loc"]) or 0))
        raise InputError(source.explain(first)) from None
    base = path.resolve().parent
    _resolve_paths(config, base)
    if "evaluation" not in data and not config.topics.beir and not config.collection.beir:
        config.evaluation = None
    _check(config, data, source, base)
    return config


def _resolve_names(config: PipelineConfig, source: _Source, base: Path) -> None:
    """Values that may be Pyserini names become local paths (beside the YAML file; they win) or Pyserini's: the
    prebuilt index's folder and the qrels file in its cache, a checked topics name. Uncached names fail here."""
    from pyserini_qpeft.lucene.names import could_be_name, index_path, qrels_path, topics_source

    def what(section: str, key: str) -> str:
        return f"{source.where(section, key)}: {section}.{key}"

    if could_be_name(config.index.path):
        local = base / config.index.path
        found = index_path(config.index.path, base, what("index", "path"))
        config.index.path = str(found.resolve() if found == local else found)
        if found != local and config.index.build == "always":
            raise InputError(
                f"{what('index', 'build')}: 'always' would rebuild Pyserini's prebuilt index in its cache "
                f"({config.index.path}); use build: auto or never, or another index.path"
            )
    if config.topics.file and could_be_name(config.topics.file):
        found = topics_source(config.topics.file, base, what("topics", "file"))
        config.topics.file = str(found.resolve() if isinstance(found, Path) else found)
    if config.evaluation is not None and config.evaluation.qrels and could_be_name(config.evaluation.qrels):
        config.evaluation.qrels = str(qrels_path(config.evaluation.qrels, base, what("evaluation", "qrels")).resolve())


def _check(config: PipelineConfig, data: dict, source: _Source, base: Path) -> None:
    """What the types cannot say: required keys, keys that depend on each other, devices and metric names."""
    if not config.index.path:
        raise InputError(f"{source.where('index')}: 'index.path' is required (where the Lucene index is or will be)")
    _resolve_names(config, source, base)
    if config.index.build != "never" and not config.collection.beir and not Path(config.index.path).exists():
        raise InputError(
            f"{source.where('index', 'path')}: 'collection.beir' is needed to build the index {config.index.path}"
        )
    if not config.topics.beir:
        config.topics.beir = config.collection.beir
    if not config.topics.file and not config.topics.beir:
        raise InputError(f"{source.where('topics')}: give 'topics.file' or 'topics.beir' (or 'collection.beir')")
    if not config.output.run:
        raise InputError(f"{source.where('output')}: 'output.run' is required (the TREC run to write)")
    if config.reranker is not None:
        if not config.reranker.model:
            raise InputError(
                f"{source.where('reranker')}: 'reranker.model' is required in the reranker section "
                "(a model id, folder or checkpoint); remove the section for a BM25-only run"
            )
        if config.reranker.device is not None:
            from pyserini_qpeft.model.loading import resolve_device

            resolve_device(config.reranker.device, f"{source.where('reranker', 'device')}: 'reranker.device'")
    if config.evaluation is not None:
        from pyserini_qpeft.runs.evaluation import check_metric

        for i, metric in enumerate(config.evaluation.metrics):
            try:
                check_metric(metric)
            except InputError as exc:
                message = str(exc).removeprefix("--metrics: ")
                raise InputError(
                    f"{source.where('evaluation', 'metrics', i)}: 'evaluation.metrics[{i}]' = {metric!r}: {message}"
                ) from None
        if not config.evaluation.qrels and config.topics.file:
            if "evaluation" in data:
                raise InputError(f"{source.where('evaluation')}: 'evaluation.qrels' is required with 'topics.file'")
            config.evaluation = None  # nothing to evaluate against
        elif not config.evaluation.qrels:
            config.evaluation.qrels = str(Path(config.topics.beir) / "qrels" / f"{config.topics.split}.tsv")
