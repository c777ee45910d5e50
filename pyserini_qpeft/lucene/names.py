"""Pyserini's own names for indexes, topics and qrels (``beir-v1.0.0-scifact.flat``, ``dl19-passage``, ...).

Names are resolved through Pyserini itself: its prebuilt-index registry and cache (``$PYSERINI_CACHE``, default
``~/.cache/pyserini``), and its topics and qrels readers (Anserini keeps their files in
``~/.cache/pyserini/topics-and-qrels``, under Java's ``user.home``). As in ``python -m pyserini.search.lucene``,
a local file or folder of the same name wins; we log one line when it does. Nothing is downloaded here: a name
whose files are not in Pyserini's cache is an :class:`InputError` that says what Pyserini would fetch and where a
copy goes. The JVM starts only when a value is not a local file and may be a name.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
import os
import re
from pathlib import Path

from pyserini_qpeft.errors import InputError

logger = logging.getLogger(__name__)

# Where Anserini fetches topics and qrels files that are not in its cache (TopicReader/RelevanceJudgments).
TOPICS_AND_QRELS_URL = "https://raw.githubusercontent.com/castorini/anserini-tools/master/topics-and-qrels/"
# Suffixes that make a value a file name, never a Pyserini name (names such as "dl19-passage.splade-pp-ed" have dots).
FILE_SUFFIXES = (".tsv", ".txt", ".gz", ".trec", ".json", ".jsonl", ".csv", ".xml", ".qrels", ".run")
# Registries whose indexes BM25 search and reranking cannot use, and what they hold.
OTHER_INDEX_REGISTRIES = {
    "IMPACT_INDEX_INFO": "learned sparse (impact)",
    "LUCENE_HNSW_INDEX_INFO": "dense (HNSW)",
    "LUCENE_FLAT_INDEX_INFO": "dense (flat)",
    "FAISS_INDEX_INFO": "dense (Faiss)",
}


def could_be_name(value: str | os.PathLike) -> bool:
    """True when ``value`` may be a Pyserini name: one word without a folder part or a file suffix."""
    text = os.fspath(value)
    path_like = "/" in text or os.sep in text or text.startswith(("~", ".")) or text.lower().endswith(FILE_SUFFIXES)
    return bool(text) and not path_like


def _local(value: str | os.PathLike, base: str | os.PathLike | None) -> Path:
    path = Path(os.path.expanduser(os.fspath(value)))
    return path if base is None or path.is_absolute() else Path(base) / path


def _suggest(value: str, names) -> str:
    close = difflib.get_close_matches(value, list(names), n=3, cutoff=0.75)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _size(info: dict) -> str:
    size = info.get("size compressed (bytes)")
    return f", {int(size) / 2**20:.0f} MiB" if isinstance(size, int) or str(size or "").isdigit() else ""


# ---------------------------------------------------------------------------------------------------- indexes


def _index_registries() -> dict[str, dict]:
    """Pyserini's prebuilt-index registries by name (Pyserini 1.x reads them from Anserini's jar: needs the JVM)."""
    from pyserini_qpeft.lucene.java import start_jvm

    start_jvm()
    import pyserini.prebuilt_index_info as info

    return {name: getattr(info, name, {}) for name in ("TF_INDEX_INFO", *OTHER_INDEX_REGISTRIES)}


def prebuilt_index_cache_path(info: dict) -> Path:
    """Where Pyserini keeps a downloaded prebuilt index: ``<cache>/indexes/<file name>.<md5>`` (its own cache home)."""
    from pyserini.util import get_cache_home

    filename = info.get("filename") or info["urls"][0].split("/")[-1]
    return Path(get_cache_home()) / "indexes" / f"{re.sub(r'.tar.gz.*$', '', filename)}.{info['md5']}"


def index_path(value: str | os.PathLike, base: str | os.PathLike | None = None, what: str = "index") -> Path:
    """The index folder ``value`` names: a local folder (relative to ``base``), or the folder in Pyserini's cache
    of the prebuilt bag-of-words index of that name. A path that names neither comes back as is (the caller says
    it is missing). An uncached or unusable prebuilt name is an :class:`InputError` starting with ``what``."""
    local = _local(value, base)
    name = os.fspath(value)
    if not could_be_name(name):
        return local
    if local.exists():
        with contextlib.suppress(Exception):  # only for the log line: no Java or no Pyserini is fine here
            if name in _index_registries()["TF_INDEX_INFO"]:
                logger.info("%s %s: the local folder %s, not Pyserini's prebuilt index of that name", what, name, local)
        return local
    registries = _index_registries()
    info = registries["TF_INDEX_INFO"].get(name)
    if info is None:
        for registry, kind in OTHER_INDEX_REGISTRIES.items():
            if name in registries[registry]:
                raise InputError(
                    f"{what} {name}: a {kind} index in Pyserini's registry; BM25 search and reranking need a "
                    "bag-of-words Lucene index (e.g. beir-v1.0.0-scifact.flat, msmarco-v1-passage)"
                )
        return local  # neither: the caller says the folder is missing
    cached = prebuilt_index_cache_path(info)
    if not cached.is_dir():
        raise InputError(
            f"{what} {name}: Pyserini's prebuilt index is not in its cache ({cached}) and nothing is downloaded here; "
            f"Pyserini would fetch {info['urls'][0]}{_size(info)}: unpacked, its folder goes to {cached} "
            "(PYSERINI_CACHE moves the cache), or pass a local index folder"
        )
    logger.info("%s %s: Pyserini's prebuilt index in %s", what, name, cached)
    return cached


# ---------------------------------------------------------------------------------------------- topics, qrels


def _search_base():
    """``pyserini.search._base`` (topics and qrels registries), imported after the JVM is up."""
    from pyserini_qpeft.lucene.java import start_jvm

    start_jvm()
    import pyserini.search._base as base

    return base


def _cached_file(base, kind: str, entry, name: str, what: str) -> None:
    """Refuse (one line) a topics or qrels name whose file Anserini would have to download."""
    reader = base.JTopicReader if kind == "topics" else base.JRelevanceJudgments
    locate = getattr(reader, "getNewTopicsAbsPath" if kind == "topics" else "getNewQrelAbsPath", None)
    if locate is None:  # an Anserini that ships topics and qrels inside its jar: nothing to download
        return
    relative = base.JPath.of(entry.path)
    if kind == "topics" and os.path.isfile(relative.toAbsolutePath().toString()):
        return  # Anserini reads a copy in the working directory first
    cached = locate(relative).toString()
    if not os.path.isfile(cached):
        filename = os.path.basename(cached)
        fix = "--topics FILE ('qid<TAB>query' lines)" if kind == "topics" else "--qrels FILE (TREC qrels)"
        raise InputError(
            f"{what} {name}: Pyserini's {kind} file {filename} is not in its cache ({cached}) and nothing is "
            f"downloaded here; Pyserini would fetch {TOPICS_AND_QRELS_URL}{filename}: put a copy at {cached}, "
            f"or pass a local file with {fix}"
        )


def _mapping(kind: str, name: str, what: str) -> tuple:
    """``pyserini.search._base`` and its topics or qrels registry (name -> Anserini's entry)."""
    base = _search_base()
    mapping = getattr(base, f"{kind}_mapping", None)
    if mapping is None:  # Pyserini 2.x reads the registry from GitHub on first use: nothing offline to check
        from importlib.metadata import version

        fix = "--topics FILE ('qid<TAB>query' lines)" if kind == "topics" else "--qrels FILE (TREC qrels)"
        raise InputError(
            f"{what} {name}: Pyserini {version('pyserini')} looks {kind} names up online "
            f"({TOPICS_AND_QRELS_URL}_metadata_{kind}.json) and nothing is downloaded here; pass a local file: {fix}"
        )
    return base, mapping


def _registry_entry(kind: str, name: str, what: str, local: Path):
    base, mapping = _mapping(kind, name, what)
    if name not in mapping:
        fix = "a file of 'qid<TAB>query' lines" if kind == "topics" else "a BEIR qrels TSV or TREC qrels file"
        raise InputError(
            f"{what} {name}: no such file ({local}), and not one of Pyserini's {kind} names"
            f"{_suggest(name, mapping)}; pass {fix} or a name such as beir-v1.0.0-scifact-test"
        )
    return base, mapping[name]


def _source(kind: str, value: str | os.PathLike, base: str | os.PathLike | None, what: str) -> Path | str:
    """The local file ``value`` names, else the Pyserini name (checked: known and cached)."""
    local = _local(value, base)
    name = os.fspath(value)
    if not could_be_name(name):
        return local
    if local.exists():
        with contextlib.suppress(Exception):  # only for the log line
            if name in _mapping(kind, name, what)[1]:
                logger.info("%s %s: the local file %s, not Pyserini's %s of that name", what, name, local, kind)
        return local
    search_base, entry = _registry_entry(kind, name, what, local)
    _cached_file(search_base, kind, entry, name, what)
    return name


def topics_source(value: str | os.PathLike, base: str | os.PathLike | None = None, what: str = "topics") -> Path | str:
    """A local topics file (a Path, relative to ``base``) or a checked Pyserini topics name (a str)."""
    return _source("topics", value, base, what)


def qrels_path(value: str | os.PathLike, base: str | os.PathLike | None = None, what: str = "qrels") -> Path:
    """A local qrels file, or the file in Pyserini's cache that holds the qrels of that name."""
    found = _source("qrels", value, base, what)
    if isinstance(found, Path):
        return found
    path = Path(_search_base().get_qrels_file(found))
    logger.info("%s %s: Pyserini's qrels in %s", what, found, path)
    return path


def pyserini_topics(name: str) -> dict[str, str]:
    """The queries of Pyserini's topics ``name`` as ``python -m pyserini.search.lucene`` reads them: its default
    query iterator (topic order and the ``title`` field), query ids as strings."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    with contextlib.redirect_stdout(io.StringIO()) as said:  # Pyserini prints notes such as the topic order it uses
        iterator = get_query_iterator(name, TopicsFormat.DEFAULT)
    for line in said.getvalue().splitlines():
        logger.info("pyserini: %s", line)
    topics = {str(qid): text for qid, text in iterator}
    logger.info("topics %s: %d queries from Pyserini", name, len(topics))
    return topics


def read_topics(
    value: str | os.PathLike, base: str | os.PathLike | None = None, what: str = "topics"
) -> dict[str, str]:
    """Queries from a local ``qid<TAB>query`` file or from Pyserini's topics of that name (local wins)."""
    from pyserini_qpeft.runs.beir import load_topics

    found = topics_source(value, base, what)
    return load_topics(found) if isinstance(found, Path) else pyserini_topics(found)


def read_qrels(value: str | os.PathLike, base: str | os.PathLike | None = None, what: str = "qrels"):
    """Judgments from a local BEIR/TREC qrels file or from Pyserini's qrels of that name (local wins)."""
    from pyserini_qpeft.runs.beir import load_qrels

    return load_qrels(qrels_path(value, base, what))
