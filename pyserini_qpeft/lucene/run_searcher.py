"""A first stage read from a TREC run and a BEIR corpus instead of a Lucene index (no Java needed).

:class:`RunSearcher` answers the part of Pyserini's ``LuceneSearcher`` that training and reranking use:
``search``/``batch_search`` return the run's hits of the query (found by its text in the topics, or by qid),
and ``doc(docid).raw()`` the document as the index would store it. So ``train --first-stage-run`` trains
on a machine without Java (a GPU node, say) with exactly the negatives and texts an index gives, when the run
is the index's BM25 run (``pyserini-qpeft search --hits N``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.lucene.index import index_record
from pyserini_qpeft.runs.beir import iter_corpus
from pyserini_qpeft.runs.trec import Run, read_run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunHit:
    """A hit as Pyserini gives it: ``docid`` and ``score``."""

    docid: str
    score: float


@dataclass(frozen=True)
class StoredDocument:
    """A document as ``LuceneSearcher.doc`` gives it: ``raw()`` is the JSON our index stores."""

    record: str

    def raw(self) -> str:
        return self.record


class RunSearcher:
    """Hits from ``run`` (qid -> [(docid, score)]) for the queries of ``topics`` (qid -> text), and documents
    from ``documents`` (docid -> the raw JSON our index stores, see ``index_record``). ``source`` names the run
    in errors."""

    def __init__(self, run: Run, topics: dict[str, str], documents: dict[str, str], source: str = "run"):
        self.run = run
        self.documents = documents
        self.source = source
        self.qid_of_text = {}
        for qid, text in topics.items():
            self.qid_of_text.setdefault(text, qid)  # equal texts have equal BM25 hits
        self._short_warned = False
        # A run file cannot list a query that retrieved nothing; one that lists none of the topics is the wrong file.
        self._matches_topics = any(qid in run for qid in topics)
        self._missing_warned = False

    @classmethod
    def from_files(
        cls, run_file: str | os.PathLike, beir: str | os.PathLike, topics: dict[str, str], extra_docids: Iterable[str]
    ) -> RunSearcher:
        """Read ``run_file`` and the corpus records of the docids it holds and of ``extra_docids`` (positives)."""
        run = read_run(run_file)
        wanted = {docid for hits in run.values() for docid, _ in hits} | set(extra_docids)
        documents = {}
        for record in iter_corpus(beir):
            docid = str(record["_id"])
            if docid in wanted and (stored := index_record(record)) is not None:  # the index skips empty ones
                documents[docid] = stored
        logger.info(
            "first stage from %s: %d queries, %d documents read from the corpus", run_file, len(run), len(documents)
        )
        return cls(run, topics, documents, source=str(run_file))

    def _hits(self, qid: str, k: int) -> list[RunHit]:
        if qid not in self.run:
            if not self._matches_topics:
                raise InputError(
                    f"{self.source}: no hits for query {qid!r}, nor for any other query of the split; the run must "
                    "cover the training and dev queries (`pyserini-qpeft search --split SPLIT --hits N` for each split)"
                )
            if not self._missing_warned:
                logger.warning(
                    "%s has no hits for query %s (and maybe others): taken as retrieving nothing, as BM25 does when "
                    "no term of the query is in the index, so it has no BM25 negatives",
                    self.source,
                    qid,
                )
                self._missing_warned = True
            return []
        hits = self.run[qid]
        if len(hits) < k and not self._short_warned:
            logger.warning("%s holds %d hits for query %s, fewer than the %d asked for", self.source, len(hits), qid, k)
            self._short_warned = True
        return [RunHit(docid, score) for docid, score in hits[:k]]

    def search(self, query: str, k: int = 10) -> list[RunHit]:
        """The run's top ``k`` for the query with this text."""
        if query not in self.qid_of_text:
            raise InputError(f"{self.source}: the query {query[:60]!r} is not among the topics the run was read with")
        return self._hits(self.qid_of_text[query], k)

    def batch_search(self, queries: list[str], qids: list[str], k: int = 10, threads: int = 1) -> dict:
        """The run's top ``k`` of each qid (``queries`` are not needed: the run is keyed by qid)."""
        return {qid: self._hits(qid, k) for qid in qids}

    def doc(self, docid: str) -> StoredDocument | None:
        """The document as our index stores it, or None when the corpus does not hold it (as the index)."""
        stored = self.documents.get(docid)
        return StoredDocument(stored) if stored is not None else None
