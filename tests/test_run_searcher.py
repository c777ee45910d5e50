"""RunSearcher: a first-stage run file standing in for the Lucene index when training."""

import logging

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.lucene.run_searcher import RunHit, RunSearcher


def test_a_query_the_run_does_not_list_retrieved_nothing(caplog):
    searcher = RunSearcher({"q1": [("d1", 2.0), ("d2", 1.0)]}, {"q1": "aspirin", "q2": "zzz"}, {}, source="bm25.trec")
    with caplog.at_level(logging.WARNING):
        hits = searcher.batch_search(["aspirin", "zzz"], ["q1", "q2"], k=1)
    assert hits == {"q1": [RunHit("d1", 2.0)], "q2": []}
    assert "bm25.trec has no hits for query q2" in caplog.text and "no BM25 negatives" in caplog.text


def test_a_run_that_lists_none_of_the_queries_is_the_wrong_file():
    searcher = RunSearcher({"other": [("d1", 1.0)]}, {"q1": "aspirin"}, {}, source="bm25.trec")
    with pytest.raises(InputError, match=r"bm25.trec: no hits for query 'q1', nor for any other query of the split"):
        searcher.search("aspirin", k=5)
