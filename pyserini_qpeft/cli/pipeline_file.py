"""The one-file YAML pipeline: what it may say, checked up front with messages that name the file, line and key.

Each section is a dataclass below; its fields are the section's keys, with their types and defaults:

    collection:  Collection       the BEIR folder to index (optional when index.path exists)
    index:       Index            where the Lucene index is or goes, and when to build it
    topics:      Topics           a BEIR split or a topics file; beir defaults to collection.beir
    first_stage: FirstStage       BM25
    reranker:    RerankerOptions  optional: without it the run is BM25 only
    output:      Output           the TREC run to write
    evaluation:  Evaluation       qrels default to the topics' split

Types come from the annotations and are checked strictly by pydantic (no "5" for 5, unknown keys refused);
paths are relative to the YAML file. ``index.path``, ``topics.file`` and ``evaluation.qrels`` may also be Pyserini's
names (``beir-v1.0.0-scifact.flat``, ``beir-v1.0.0-scifact-test``), resolved here from Pyserini's cache; a file
or folder of that name beside the YAML file wins.

``Topics``, ``FirstStage`` and ``RerankerOptions`` also define the flags of
``search`` and ``rerank`` (``pyserini_qpeft.cli.common.add_options``), which keep their own defaults where noted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from pyserini_qpeft.errors import InputError, short_repr
from pyserini_qpeft.model.config import (
    FieldProblem,
    PairLength,
    PositiveInt,
    Weight,
    dataclass_schema,
    field_problems,
    option,
    strict_schema,
)
from pyserini_qpeft.model.loading import DTYPE_NAMES
from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS
from pyserini_qpeft.text import read_text

DTYPE_CHOICES = tuple(DTYPE_NAMES)  # the names resolve_dtype reads


@dataclass
class Collection:
    beir: str | None = option(None, path=True)


@dataclass
class Index:
    path: str | None = option(None, path=True, pyserini=True)  # a folder, or a Pyserini prebuilt index name
    build: Literal["auto", "always", "never"] = "auto"  # auto: only when index.path does not exist


@dataclass
class Topics:
    beir: str | None = option(
        None, "BEIR folder whose queries.jsonl and qrels/<split>.tsv give the topics", metavar="DIR", path=True
    )
    split: str = option("test", "BEIR split whose judged queries are used")
    file: str | None = option(
        None,
        "topics file with 'qid<TAB>query' lines, or a Pyserini topics name (e.g. beir-v1.0.0-scifact-test)",
        "--topics",
        metavar="FILE|NAME",
        path=True,
        pyserini=True,
    )
    max_queries: PositiveInt | None = option(None, "use only the first N topics", metavar="N")


@dataclass
class FirstStage:
    hits: PositiveInt = option(100, "hits per query")
    threads: int = option(1, "search threads")
    k1: float = option(0.9, "BM25 k1")
    b: float = option(0.4, "BM25 b")


@dataclass
class RerankerOptions:
    """How to load and run a reranker: the YAML ``reranker:`` section and the reranking flags of the CLI."""

    model: str | None = option(None, "causal LM id or folder, or a saved Q-PEFT checkpoint folder", metavar="MODEL")
    depth: PositiveInt | None = option(
        20, "rerank only the top N hits of each query", "--rerank-depth", "--depth", metavar="N", none="all"
    )
    batch_size: PositiveInt = option(32, "pairs per forward pass")
    token_budget: PositiveInt | None = option(None, "padded tokens per forward pass", none="2048 on CPU, 8192 on GPU")
    max_length: PairLength | None = option(
        None, "tokens per pair; documents are cut to fit", none="the checkpoint's, else 512"
    )
    device: str | None = option(None, "cpu, cuda, cuda:N or mps", none="cuda if available, else cpu")
    dtype: Literal[DTYPE_CHOICES] = option(
        "auto",
        "auto, float32, bfloat16 or float16, or fp32/bf16/fp16; auto: bfloat16 where the GPU or CPU has native "
        "bf16 arithmetic, else float32",
        metavar="DTYPE",
    )
    fusion_weight: Weight | None = option(
        None,
        "the first stage's share W when fusing scores per query: W * minmax(first stage) + (1 - W) * minmax(reranker)",
        metavar="W",
        none="the checkpoint's, picked on its dev split; a bare LM has none",
    )
    fusion: bool = option(True, "no fusion: the reranker's scores alone", "--no-fusion", action="store_false")


@dataclass
class Output:
    run: str | None = option(None, path=True)
    tag: str | None = None  # qpeft, or qpeft-fusedW when fused (bm25 for a BM25-only run)
    resume: bool = False


@dataclass
class Evaluation:
    qrels: str | None = option(None, path=True, pyserini=True)  # a file, or a Pyserini qrels name
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))


SECTIONS = {
    "collection": Collection,
    "index": Index,
    "topics": Topics,
    "first_stage": FirstStage,
    "reranker": RerankerOptions,
    "output": Output,
    "evaluation": Evaluation,
}


@dataclass
class PipelineConfig:
    collection: Collection
    index: Index
    topics: Topics
    first_stage: FirstStage
    reranker: RerankerOptions | None
    output: Output
    evaluation: Evaluation | None
    source: str = "<config>"


@functools.cache
def _schema() -> type:
    return strict_schema("PipelineConfig", {name: dataclass_schema(cls) for name, cls in SECTIONS.items()})


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

    def explain(self, problem: FieldProblem) -> str:
        loc = problem.loc
        if problem.unknown:
            if len(loc) == 1:
                what, allowed = "section", list(SECTIONS)
            else:
                what, allowed = "key", [spec.name for spec in fields(SECTIONS[loc[0]])]
            return f"{self.where(*loc)}: unknown {what} '{_dotted(loc)}'; allowed: {', '.join(allowed)}"
        return f"{self.where(*loc)}: '{_dotted(loc)}' = {short_repr(problem.value)}: {problem.describe()}"


def no_aliases(text: str, where: str) -> None:
    """Refuse YAML aliases (``*name``): a pipeline has no use for them, and nested ones expand exponentially
    (a "billion laughs" file). Scanning the events is linear in the text and expands nothing."""
    import yaml

    for event in yaml.parse(text):
        if isinstance(event, yaml.AliasEvent):
            line = f":{event.start_mark.line + 1}" if where != "--set" else ""
            raise InputError(
                f"{where}{line}: YAML alias *{short_repr(event.anchor)[1:-1]} is not allowed in a pipeline "
                "config; write the value out"
            )


def parse_override(text: str) -> tuple:
    """``section.key=value`` with the value read as YAML (``--set reranker.depth=50``)."""
    import yaml

    key, sep, value = text.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise InputError(f"--set {short_repr(text)}: use section.key=value, e.g. --set reranker.depth=50")
    try:
        no_aliases(value, "--set")
        return parts[0], parts[1], yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise InputError(f"--set {short_repr(text)}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def _section(cls: type, values: dict, base: Path):
    """``cls`` from validated ``values``, with its path fields made absolute against ``base`` (those that may be
    Pyserini names stay as written when they could be one: :func:`_check` resolves them)."""
    from pyserini_qpeft.lucene.names import could_be_name

    values = dict(values)
    for spec in fields(cls):
        value = values.get(spec.name)
        if spec.metadata.get("pyserini") and isinstance(value, str) and could_be_name(value):
            continue
        if spec.metadata.get("path") and isinstance(value, str) and not os.path.isabs(value):
            values[spec.name] = str((base / os.path.expanduser(value)).resolve())
    return cls(**values)


def load_pipeline_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read and validate a pipeline YAML file, applying ``--set`` overrides first."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pipeline config not found")
    text = read_text(path)
    try:
        no_aliases(text, str(path))
        data, root = yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
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
    problems = field_problems(_schema(), data)
    if problems:
        first = min(problems, key=lambda p: (source.line(p.loc) is None, source.line(p.loc) or 0))
        raise InputError(source.explain(first))
    base = path.resolve().parent
    config = PipelineConfig(
        **{name: _section(cls, data.get(name, {}), base) for name, cls in SECTIONS.items()}, source=str(path)
    )
    if "reranker" not in data:
        config.reranker = None
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
        from pyserini_qpeft.runs.evaluation import metric_list

        for i, metric in enumerate(config.evaluation.metrics):
            try:
                metric_list(metric)
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
