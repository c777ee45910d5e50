"""Arguments and helpers shared by several subcommands.

Flags come from dataclass fields made with :func:`pyserini_qpeft.model.config.option` (spelling, type, choices, default
and help); a command changes only what differs on its surface, e.g. :data:`CLI_RERANKER`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any, Literal, TypeVar, Union

from pyserini_qpeft.cli.pipeline_file import RerankerOptions, Topics
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import dataclass_schema, field_problems
from pyserini_qpeft.runs.beir import first_queries, load_queries

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Where the command line's reranking defaults differ from the YAML pipeline's (RerankerOptions' own).
CLI_RERANKER: dict[str, dict[str, Any]] = {"depth": {"default": None}}  # the CLI reranks every hit unless told


def progress_bar(args: argparse.Namespace, **kwargs):
    """A tqdm bar, silent with --quiet."""
    from tqdm.auto import tqdm

    from pyserini_qpeft.runs.distributed import world_from_env

    quiet = bool(getattr(args, "quiet", False)) or not world_from_env().is_main  # one bar: rank 0's
    return tqdm(disable=quiet, dynamic_ncols=True, **kwargs)


def _value_type(annotation: Any) -> Any:
    """``int`` for ``Optional[Annotated[int, Ge(1)]]``: the type a flag's text is read as."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _value_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):  # Optional[X], X | None
        return _value_type(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return annotation


def _flags(spec) -> Sequence[str]:
    return spec.metadata["flags"] or (f"--{spec.name.replace('_', '-')}",)


def _cli_fields(cls: type, names: Sequence[str] | None = None):
    return [spec for spec in fields(cls) if spec.metadata.get("help") and (names is None or spec.name in names)]


def add_options(
    parser, cls: type, names: Sequence[str] | None = None, changes: Mapping[str, Mapping[str, Any]] = {}
) -> None:
    """One flag per field of dataclass ``cls`` that has help (only ``names`` if given), read back by
    :func:`options_from_args`. ``changes[field]`` overrides argparse keywords (``default``, ``choices``, ``flags``,
    ``required``) where this command differs from the field."""
    hints = typing.get_type_hints(cls, include_extras=True)
    for spec in _cli_fields(cls, names):
        kwargs: dict[str, Any] = {"dest": spec.name, "default": spec.default, **spec.metadata["argparse"]}
        kind = _value_type(hints[spec.name])
        if "action" not in kwargs:
            if typing.get_origin(kind) is Literal:
                kwargs["choices"] = list(typing.get_args(kind))
            else:
                kwargs["type"] = kind
        kwargs.update(changes.get(spec.name, {}))
        flags = kwargs.pop("flags", None) or _flags(spec)
        if "choices" not in kwargs and kwargs.get("action") is None:
            kwargs.setdefault("metavar", flags[0].lstrip("-").replace("-", "_").upper())  # --heads HEADS
        default, none = kwargs["default"], spec.metadata["none"]
        note = (
            ""
            if kwargs.get("action") in ("store_true", "store_false") or (default is None and not none)
            else f" (default: {none})"
            if default is None
            else " (default: %(default)s)"
        )
        parser.add_argument(*flags, help=spec.metadata["help"] + note, **kwargs)


def options_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """``cls`` from the flags :func:`add_options` made, its values checked against the field types first."""
    values = {spec.name: getattr(args, spec.name) for spec in _cli_fields(cls) if hasattr(args, spec.name)}
    for problem in field_problems(dataclass_schema(cls), values)[:1]:
        spec = next(spec for spec in fields(cls) if spec.name == problem.loc[0])
        raise InputError(f"{_flags(spec)[0]}: {problem.message}, got {problem.value!r}")
    return cls(**values)


def add_topic_args(parser: argparse.ArgumentParser) -> None:
    add_options(parser.add_argument_group("queries (one of)"), Topics)


def load_topic_args(args: argparse.Namespace) -> dict[str, str]:
    """The queries named by --beir/--split or --topics (a file or a Pyserini topics name), cut to --max-queries."""
    topics = options_from_args(Topics, args)
    if bool(topics.beir) == bool(topics.file):
        raise InputError("give exactly one of --beir DIR (with --split) or --topics FILE")
    if topics.beir:
        queries = load_queries(topics.beir, topics.split)
    else:
        from pyserini_qpeft.lucene.names import read_topics

        queries = read_topics(topics.file, what="--topics")
    return first_queries(queries, topics.max_queries)


def add_model_args(parser: argparse.ArgumentParser, flag: str = "--model", required: bool = True) -> None:
    """The reranker flags (:class:`RerankerOptions`), the model named by ``flag``."""
    changes = {**CLI_RERANKER, "model": {"flags": (flag,), "required": required}}
    add_options(parser.add_argument_group("reranker"), RerankerOptions, changes=changes)


def load_reranker(options: RerankerOptions):
    """A QPEFTReranker as ``options`` say (the CLI's flags or the pipeline's ``reranker:`` section)."""
    from pyserini_qpeft.reranker import QPEFTReranker
    from pyserini_qpeft.runs.distributed import rank_device

    logger.info("loading reranker %s", options.model)
    return QPEFTReranker.from_pretrained(
        options.model,
        device=rank_device(options.device),
        dtype=options.dtype,
        max_length=options.max_length,
        batch_size=options.batch_size,
        token_budget=options.token_budget,
    )


def reranker_options(args: argparse.Namespace) -> RerankerOptions:
    """The reranker flags, checked before anything slow (Java, the model) starts: values, device, model name."""
    from pyserini_qpeft.model.loading import check_model_available, resolve_device

    options = options_from_args(RerankerOptions, args)
    resolve_device(options.device, "--device")
    check_model_available(options.model)
    return options


@contextlib.contextmanager
def lock_output(output: str) -> Iterator[None]:
    """Hold ``output``'s lock (:mod:`pyserini_qpeft.files.lock`) for this process's rank: one writer per output."""
    from pyserini_qpeft.files.lock import output_lock
    from pyserini_qpeft.runs.distributed import world_from_env

    world = world_from_env()
    with output_lock(output, world.rank, world.size):
        yield


def add_resume_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the topics an interrupted run already finished (journaled beside --output)",
    )


def fusion_choice(args: argparse.Namespace) -> float | str | None:
    """What the flags say about fusion: --no-fusion (None), --fusion-weight W, else the checkpoint's weight."""
    from pyserini_qpeft.runs.fusion import FROM_CHECKPOINT

    if not getattr(args, "fusion", True):
        return None
    chosen = getattr(args, "fusion_weight", None)
    return FROM_CHECKPOINT if chosen is None else chosen
