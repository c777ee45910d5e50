"""Arguments and helpers shared by several subcommands.

Flags come from the fields of :class:`pyserini_qpeft.model.config.Settings` models (spelling, type, choices, default
and help); a command changes only what differs on its surface, e.g. :data:`CLI_RERANKER`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from pyserini_qpeft.cli.pipeline_file import RerankerOptions, Topics
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import Settings, own_error
from pyserini_qpeft.runs.beir import first_queries, load_queries

logger = logging.getLogger(__name__)
S = TypeVar("S", bound=Settings)

# Where the command line's reranking defaults differ from the YAML pipeline's (RerankerOptions' own).
CLI_RERANKER: dict[str, dict[str, Any]] = {"depth": {"default": None}}  # the CLI reranks every hit unless told


def progress_bar(args: argparse.Namespace, **kwargs):
    """A tqdm bar, silent with --quiet."""
    from tqdm.auto import tqdm

    from pyserini_qpeft.runs.distributed import world_from_env

    quiet = bool(getattr(args, "quiet", False)) or not world_from_env().is_main  # one bar: rank 0's
    return tqdm(disable=quiet, dynamic_ncols=True, **kwargs)


def _flags(cls: type[Settings]) -> dict[str, list[str]]:
    """The flag spellings of each field of ``cls`` that has a description (one flag per such field)."""
    return {
        name: (info.json_schema_extra or {}).get("flags") or [f"--{name.replace('_', '-')}"]
        for name, info in cls.model_fields.items()
        if info.description
    }


def add_options(
    parser, cls: type[Settings], names: Sequence[str] | None = None, changes: Mapping[str, Mapping[str, Any]] = {}
) -> None:
    """One flag per field of ``cls`` that has a description (only ``names`` if given), read back by
    :func:`options_from_args`. ``changes[field]`` overrides argparse keywords (``default``, ``choices``, ``flags``,
    ``required``) where this command differs from the field."""
    for name, flags in _flags(cls).items():
        if names is not None and name not in names:
            continue
        info, change = cls.model_fields[name], changes.get(name, {})
        extra = {**(info.json_schema_extra or {}), **change}
        kind = info.annotation
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        kwargs = {"dest": name, "default": info.default}
        if "action" not in extra:
            kwargs.update(
                {"choices": list(typing.get_args(kind))} if typing.get_origin(kind) is Literal else {"type": kind}
            )
        kwargs.update({key: value for key, value in extra.items() if key not in ("flags", "none", "path", "pyserini")})
        flags = change.get("flags") or flags
        if "choices" not in kwargs and kwargs.get("action") is None:
            kwargs.setdefault("metavar", flags[0].lstrip("-").replace("-", "_").upper())  # --heads HEADS
        default, none, text = kwargs["default"], extra.get("none"), info.description
        if kwargs.get("action") not in ("store_true", "store_false") and (default is not None or none):
            text += f" (default: {none})" if default is None else " (default: %(default)s)"
        parser.add_argument(*flags, help=text, **kwargs)


def options_from_args(cls: type[S], args: argparse.Namespace) -> S:
    """``cls`` from the flags :func:`add_options` made, validated by pydantic; an invalid value names its flag."""
    flags = _flags(cls)
    try:
        return cls.model_validate({name: getattr(args, name) for name in flags if hasattr(args, name)})
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = flags[error["loc"][0]][0] if error["loc"] else None
        raise own_error(error) or InputError(f"{flag}: {error['msg']}, got {error['input']!r}") from None


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


def rerank_to_output(
    args: argparse.Namespace, options: RerankerOptions, reranker, run, queries, searcher, tag: str | None, source: str
) -> None:
    """:func:`~pyserini_qpeft.runs.rerank.rerank_run_to_file` as the flags say: --output, --resume and --quiet, and
    the reranker flags ``options`` (:func:`reranker_options`): depth and fusion."""
    from pyserini_qpeft.runs.rerank import rerank_run_to_file

    rerank_run_to_file(
        reranker,
        run,
        queries,
        searcher,
        args.output,
        depth=options.depth,
        fusion_weight=options.fusion_choice,
        tag=tag,
        resume=args.resume,
        source=source,
        progress=not getattr(args, "quiet", False),
    )
