"""Build a Lucene index from a BEIR folder with Pyserini, and open searchers on it."""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.atomic import staging_directory, swap_directory
from pyserini_qpeft.files.guards import is_lucene_index
from pyserini_qpeft.lucene.java import lucene, lucene_indexer
from pyserini_qpeft.runs.beir import iter_corpus
from pyserini_qpeft.text import clean_text, title_and_text

logger = logging.getLogger(__name__)


def index_record(record: dict) -> str | None:
    """The JSON document we index for a BEIR record (title and text searchable, both also stored in raw).

    None for a record with no text at all: Lucene would drop it without a word.
    """
    title, text = clean_text(record.get("title", "") or ""), clean_text(record.get("text", "") or "")
    contents = title_and_text(title, text)
    if not contents.strip():
        return None
    return json.dumps(
        {"id": str(record["_id"]), "contents": contents, "title": title, "text": text}, ensure_ascii=False
    )


def build_index(
    beir_folder: str | os.PathLike,
    index_dir: str | os.PathLike,
    threads: int = 2,
    batch_size: int = 2000,
    overwrite: bool = False,
    progress: Callable[[int], Any] | None = None,
) -> int:
    """Index ``corpus.jsonl`` of a BEIR folder into ``index_dir`` (built aside, moved in when done).

    Stores positions, document vectors and the raw JSON, like Pyserini's prebuilt BEIR "flat" indexes.
    Documents with neither title nor text cannot be indexed; they are skipped with a warning naming them.
    ``overwrite`` replaces an existing folder only if it is a Lucene index. ``progress(n)`` is called after
    each batch with the ``n`` records read for it. Returns the number of documents indexed.
    """
    index_dir = Path(index_dir)
    if index_dir.exists() or index_dir.is_symlink():
        if not overwrite:
            raise InputError(f"{index_dir}: already exists; pass --overwrite to replace the index there")
        if not is_lucene_index(index_dir):
            raise InputError(
                f"{index_dir}: exists and is not a Lucene index (it holds other files); refusing to "
                "delete it: choose another --index"
            )
    records = iter_corpus(beir_folder)  # validates the folder before any Java work
    first = next(records, None)
    if first is None:
        raise InputError(f"{Path(beir_folder) / 'corpus.jsonl'}: the corpus is empty")
    indexer_cls = lucene_indexer()
    count, skipped = 0, []
    with staging_directory(index_dir) as tmp:
        indexer = indexer_cls(
            args=["-index", str(tmp), "-storePositions", "-storeDocvectors", "-storeRaw"], threads=threads
        )
        try:
            batch: list = []
            seen = 0  # records read since the last progress call, skipped ones included
            for record in itertools.chain([first], records):
                seen += 1
                document = index_record(record)
                if document is None:
                    skipped.append(str(record["_id"]))
                else:
                    batch.append(document)
                if len(batch) >= batch_size:
                    indexer.add_batch_raw(batch)
                    count += len(batch)
                    if progress:
                        progress(seen)
                    batch, seen = [], 0
            if batch:
                indexer.add_batch_raw(batch)
                count += len(batch)
            if progress and seen:
                progress(seen)
        finally:
            indexer.close()
        if count == 0:
            raise InputError(f"{Path(beir_folder) / 'corpus.jsonl'}: no document has any text to index")
        # Only a complete new index replaces an old one.
        if index_dir.exists():
            swap_directory(tmp, index_dir)
        else:
            os.replace(tmp, index_dir)
    if skipped:
        logger.warning(
            "skipped %d documents with no title and no text (not indexable, so not retrievable or rerankable): %s%s",
            len(skipped),
            ", ".join(skipped[:5]),
            " ..." if len(skipped) > 5 else "",
        )
    logger.info("indexed %d documents into %s", count, index_dir)
    return count


def open_searcher(index_dir: str | os.PathLike, k1: float = 0.9, b: float = 0.4, what: str = "index"):
    """A Pyserini ``LuceneSearcher`` with BM25(k1, b) on ``index_dir``, with a clear error for a bad folder.

    ``index_dir`` may also be one of Pyserini's prebuilt index names (``beir-v1.0.0-scifact.flat``), opened from
    Pyserini's cache; a local folder of that name wins (see :mod:`pyserini_qpeft.lucene.names`). ``what`` names
    the argument in errors about names.
    """
    from pyserini_qpeft.lucene.names import index_path

    index_dir = index_path(index_dir, what=what)
    if not index_dir.is_dir():
        raise InputError(
            f"{index_dir}: index folder not found (nor one of Pyserini's prebuilt index names); build one with "
            f"`pyserini-qpeft index --beir DIR --index {index_dir}`"
        )
    if not any(index_dir.glob("segments_*")):
        raise InputError(f"{index_dir}: not a Lucene index (no segments_* file); build one with `pyserini-qpeft index`")
    searcher = lucene().LuceneSearcher(str(index_dir.absolute()))  # Java resolves against its own start folder
    searcher.set_bm25(k1, b)
    return searcher


def document_text(searcher, docid: str) -> str:
    """The text we rerank on for ``docid``: "title\\ntext" from the stored raw JSON (or its contents)."""
    doc = searcher.doc(docid)
    if doc is None:
        raise InputError(
            f"document {docid!r} is not in the index; check that the run and the index belong to the same "
            "collection (documents with no text are not indexed)"
        )
    raw = doc.raw()
    if raw is None:
        contents = doc.contents()
        if contents is None:
            raise InputError(f"document {docid!r} has no stored raw text or contents; rebuild the index with -storeRaw")
        return contents
    return text_from_raw(raw)


def text_from_raw(raw: str) -> str:
    """Document text from a stored raw JSON document (ours, BEIR's or JsonCollection's), else raw itself."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if not isinstance(record, dict):
        return raw
    if "title" in record or "text" in record:
        return title_and_text(record.get("title"), record.get("text"))
    return str(record.get("contents", raw))
