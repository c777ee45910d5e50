"""The one-file YAML pipeline: what it may say, checked up front with messages that name the key and fix.

Sections and keys (paths are relative to the YAML file):

    collection:  {beir: DIR}                                  # the corpus to index (optional with index.path existing)
    index:       {path: DIR, build: auto|always|never}
    topics:      {beir: DIR, split: test, file: FILE, max_queries: N}   # beir defaults to collection.beir
    first_stage: {hits: 100, k1: 0.9, b: 0.4, threads: 1}
    reranker:    {model: ID|DIR, depth: 20, batch_size: 32, token_budget: null, max_length: null, device: null, dtype: null}
    output:      {run: FILE, tag: qpeft, resume: false}
    evaluation:  {qrels: FILE, metrics: [nDCG@10, R@100, MRR@10]}      # qrels defaults to the topics' split
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .errors import InputError
from .text import read_text

PATH_KEYS = {("collection", "beir"), ("index", "path"), ("topics", "beir"), ("topics", "file"), ("output", "run"),
             ("evaluation", "qrels")}


@dataclass
class Collection:
    beir: Optional[str] = None


@dataclass
class Index:
    path: Optional[str] = None
    build: str = "auto"


@dataclass
class Topics:
    beir: Optional[str] = None
    split: str = "test"
    file: Optional[str] = None
    max_queries: Optional[int] = None


@dataclass
class FirstStage:
    hits: int = 100
    k1: float = 0.9
    b: float = 0.4
    threads: int = 1


@dataclass
class Reranker:
    model: Optional[str] = None
    depth: Optional[int] = 20
    batch_size: int = 32
    token_budget: Optional[int] = None
    max_length: Optional[int] = None
    device: Optional[str] = None
    dtype: Optional[str] = None


@dataclass
class Output:
    run: Optional[str] = None
    tag: str = "qpeft"
    resume: bool = False


@dataclass
class Evaluation:
    qrels: Optional[str] = None
    metrics: List[str] = field(default_factory=lambda: ["nDCG@10", "R@100", "MRR@10"])


SECTIONS = {"collection": Collection, "index": Index, "topics": Topics, "first_stage": FirstStage,
            "reranker": Reranker, "output": Output, "evaluation": Evaluation}


@dataclass
class PipelineConfig:
    collection: Collection
    index: Index
    topics: Topics
    first_stage: FirstStage
    reranker: Optional[Reranker]
    output: Output
    evaluation: Optional[Evaluation]
    source: str = "<config>"


def _type_ok(value: Any, annotation: str) -> bool:
    if value is None:
        return "Optional" in annotation
    if "bool" in annotation:
        return isinstance(value, bool)
    if "int" in annotation:
        return isinstance(value, int) and not isinstance(value, bool)
    if "float" in annotation:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if "List" in annotation:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _section(name: str, raw: Any, source: str, base: Path):
    cls = SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{source}: '{name}' must be a mapping of keys to values")
    known = {f.name: f for f in fields(cls)}
    for key, value in raw.items():
        if key not in known:
            raise InputError(f"{source}: unknown key '{name}.{key}'; allowed: {', '.join(known)}")
        if not _type_ok(value, str(known[key].type)):
            raise InputError(f"{source}: '{name}.{key}' = {value!r} has the wrong type; expected {known[key].type}")
        if (name, key) in PATH_KEYS and value is not None:
            raw[key] = str((base / os.path.expanduser(value)).resolve()) if not os.path.isabs(value) else value
    return cls(**raw)


def parse_override(text: str) -> tuple:
    """``section.key=value`` with the value read as YAML (``--set reranker.depth=50``)."""
    import yaml

    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise InputError(f"--set {text!r}: use section.key=value, e.g. --set reranker.depth=50")
    return parts[0], parts[1], yaml.safe_load(value)


def load_pipeline_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read and validate a pipeline YAML file, applying ``--set`` overrides first."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pipeline config not found")
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be a mapping with sections {', '.join(SECTIONS)}")
    for override in overrides:
        section, key, value = parse_override(override)
        if section not in SECTIONS:
            raise InputError(f"--set {override!r}: unknown section '{section}'; allowed: {', '.join(SECTIONS)}")
        if data.get(section) is None:
            data[section] = {}
        data[section][key] = value
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise InputError(f"{path}: unknown sections {unknown}; allowed: {', '.join(SECTIONS)}")
    base = path.resolve().parent
    source = str(path)
    parts = {name: _section(name, data.get(name), source, base) for name in SECTIONS}
    config = PipelineConfig(**parts, source=source)
    if "reranker" not in data:
        config.reranker = None
    elif not config.reranker.model:
        raise InputError(f"{source}: 'reranker.model' is required in the reranker section (a model id, folder or "
                         "checkpoint); remove the section for a BM25-only run")
    if "evaluation" not in data and not config.topics.beir and not config.collection.beir:
        config.evaluation = None
    _check(config, data)
    return config


def _check(config: PipelineConfig, data: dict) -> None:
    source = config.source
    if not config.index.path:
        raise InputError(f"{source}: 'index.path' is required (where the Lucene index is or will be)")
    if config.index.build not in ("auto", "always", "never"):
        raise InputError(f"{source}: 'index.build' = {config.index.build!r}; use auto, always or never")
    if config.index.build != "never" and not config.collection.beir and not Path(config.index.path).exists():
        raise InputError(f"{source}: 'collection.beir' is needed to build the index {config.index.path}")
    if not config.topics.beir:
        config.topics.beir = config.collection.beir
    if not config.topics.file and not config.topics.beir:
        raise InputError(f"{source}: give 'topics.file' or 'topics.beir' (or 'collection.beir')")
    if not config.output.run:
        raise InputError(f"{source}: 'output.run' is required (the TREC run to write)")
    if config.first_stage.hits < 1:
        raise InputError(f"{source}: 'first_stage.hits' must be at least 1")
    if config.topics.max_queries is not None and config.topics.max_queries < 1:
        raise InputError(f"{source}: 'topics.max_queries' must be at least 1")
    if config.reranker is not None:
        from .model_loading import resolve_device, resolve_dtype

        if config.reranker.depth is not None and config.reranker.depth < 1:
            raise InputError(f"{source}: 'reranker.depth' must be at least 1")
        if config.reranker.device is not None:
            resolve_device(config.reranker.device, f"{source}: 'reranker.device'")
        resolve_dtype(config.reranker.dtype, f"{source}: 'reranker.dtype'")
    if config.evaluation is not None:
        from .evaluation import metric_list

        metric_list(",".join(config.evaluation.metrics))
        if not config.evaluation.qrels and config.topics.file:
            if "evaluation" in data:
                raise InputError(f"{source}: 'evaluation.qrels' is required with 'topics.file'")
            config.evaluation = None  # nothing to evaluate against
        elif not config.evaluation.qrels:
            config.evaluation.qrels = str(Path(config.topics.beir) / "qrels" / f"{config.topics.split}.tsv")
