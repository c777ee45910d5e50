"""Build a Lucene index from a BEIR folder with Pyserini, and open searchers on it."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

from .atomic import atomic_directory
from .beir_data import iter_corpus
from .errors import InputError
from .text import clean_text, title_and_text
from .java import lucene, lucene_indexer

logger = logging.getLogger(__name__)


def index_record(record: dict) -> str:
    """The JSON document we index for a BEIR record: title and text searchable, both also stored in raw."""
    title, text = clean_text(record.get("title", "") or ""), clean_text(record.get("text", "") or "")
    return json.dumps({"id": str(record["_id"]), "contents": title_and_text(title, text), "title": title, "text": text},
                      ensure_ascii=False)


def build_index(
    beir_folder: str | os.PathLike,
    index_dir: str | os.PathLike,
    threads: int = 2,
    batch_size: int = 2000,
    overwrite: bool = False,
    progress: Optional[Callable[[int], Any]] = None,
) -> int:
    """Index ``corpus.jsonl`` of a BEIR folder into ``index_dir`` (built aside, moved in when done).

    Stores positions, document vectors and the raw JSON, like Pyserini's prebuilt BEIR "flat" indexes.
    ``progress(n)`` is called after each batch of ``n`` documents. Returns the number of documents.
    """
    index_dir = Path(index_dir)
    if index_dir.exists() and not overwrite:
        raise InputError(f"{index_dir}: already exists; remove it or pass --overwrite")
    records = iter_corpus(beir_folder)  # validates the folder before any Java work
    first = next(records, None)
    if first is None:
        raise InputError(f"{Path(beir_folder) / 'corpus.jsonl'}: the corpus is empty")
    indexer_cls = lucene_indexer()
    count = 0
    staging = index_dir.with_name(index_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    with atomic_directory(staging) as tmp:
        indexer = indexer_cls(args=["-index", str(tmp), "-storePositions", "-storeDocvectors", "-storeRaw"], threads=threads)
        try:
            batch = [index_record(first)]
            for record in records:
                batch.append(index_record(record))
                if len(batch) >= batch_size:
                    indexer.add_batch_raw(batch)
                    count += len(batch)
                    if progress:
                        progress(len(batch))
                    batch = []
            if batch:
                indexer.add_batch_raw(batch)
                count += len(batch)
                if progress:
                    progress(len(batch))
        finally:
            indexer.close()
    # Only a complete new index replaces an old one.
    if index_dir.exists():
        old = index_dir.with_name(index_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(index_dir, old)
        os.replace(staging, index_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, index_dir)
    logger.info("indexed %d documents into %s", count, index_dir)
    return count


def open_searcher(index_dir: str | os.PathLike, k1: float = 0.9, b: float = 0.4):
    """A Pyserini ``LuceneSearcher`` with BM25(k1, b) on ``index_dir``, with a clear error for a bad folder."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise InputError(f"{index_dir}: index folder not found; build one with `pyserini-qpeft index --beir DIR --index {index_dir}`")
    if not any(index_dir.glob("segments_*")):
        raise InputError(f"{index_dir}: not a Lucene index (no segments_* file); build one with `pyserini-qpeft index`")
    searcher = lucene().LuceneSearcher(str(index_dir))
    searcher.set_bm25(k1, b)
    return searcher


def document_text(searcher, docid: str) -> str:
    """The text we rerank on for ``docid``: "title\\ntext" from the stored raw JSON (or its contents)."""
    doc = searcher.doc(docid)
    if doc is None:
        raise InputError(f"document {docid!r} is not in the index {getattr(searcher, 'index_dir', '')}".rstrip())
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
