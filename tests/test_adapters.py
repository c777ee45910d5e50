"""pygaggle, rank_llm, BEIR and Pyserini-writer shapes on a tiny random model."""

import pytest

from pyserini_qpeft import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.integrations.toolkits import Query, RankCandidate, RankQuery, Request, Result, Text

from _tiny_models import tiny_reranker

DOCS = {
    "d1": ("Aspirin", "Aspirin lowers the risk of heart attack."),
    "d2": ("Vitamin D", "Deficiency is common among older people."),
    "d3": (None, "Radiation therapy changes gene expression."),
}
QUERY = "Does aspirin prevent heart attacks?"


@pytest.fixture(scope="module")
def reranker():
    return tiny_reranker(max_length=128)


def full_text(docid):
    title, text = DOCS[docid]
    return f"{title}\n{text}" if title else text


def test_pygaggle_rescore_and_rerank_return_new_texts(reranker):
    texts = [Text(text, {"docid": d}, 0, title) for d, (title, text) in DOCS.items()]
    expected = reranker.score(QUERY, [full_text(d) for d in DOCS])
    rescored = reranker.rescore(Query(QUERY), texts)
    assert [t.metadata["docid"] for t in rescored] == list(DOCS)
    assert [t.score for t in rescored] == pytest.approx(expected)
    assert all(t.score == 0 for t in texts)  # inputs untouched
    ranked = reranker.rerank(Query(QUERY, "q1"), texts)
    assert [t.score for t in ranked] == sorted(expected, reverse=True)
    assert {t.metadata["docid"] for t in ranked} == set(DOCS)


def test_rank_llm_shape_with_our_dataclasses(reranker):
    candidates = [RankCandidate(d, 10.0 - i, {"title": t, "text": x}) for i, (d, (t, x)) in enumerate(DOCS.items())]
    candidates.append(RankCandidate("d4", 1.0, {"contents": "unranked tail"}))
    request = Request(RankQuery(QUERY, "q1"), candidates)
    [result] = reranker.rerank_batch([request], rank_start=0, rank_end=3)
    assert isinstance(result, Result) and result.query is request.query
    expected = dict(zip(DOCS, reranker.score(QUERY, [full_text(d) for d in DOCS])))
    assert [c.docid for c in result.candidates[:3]] == sorted(expected, key=expected.get, reverse=True)
    assert result.candidates[3].docid == "d4" and result.candidates[3].score == 1.0
    assert request.candidates[0].score == 10.0
    with pytest.raises(InputError, match="rank_start"):
        reranker.rerank_batch([request], rank_start=5, rank_end=2)
    with pytest.raises(InputError, match="has no text"):
        reranker.rerank_batch([Request(RankQuery(QUERY, "q"), [RankCandidate("x", 0.0, {})])])


def test_rank_llm_shape_with_rank_llms_own_dataclasses(reranker):
    data = pytest.importorskip("rank_llm.data")
    request = data.Request(data.Query(QUERY, "q1"), [data.Candidate(d, 1.0, {"contents": full_text(d)}) for d in DOCS])
    [result] = reranker.rerank_batch([request])
    assert type(result) is data.Result and all(type(c) is data.Candidate for c in result.candidates)


def test_beir_predict_protocol(reranker):
    pairs = [[QUERY, full_text(d)] for d in DOCS]
    assert reranker.predict(pairs, batch_size=2) == pytest.approx(reranker.score(QUERY, [full_text(d) for d in DOCS]))


def test_pyserini_output_writer_and_trecrun_accept_candidates(reranker, tmp_path):
    from pyserini_qpeft.lucene.java import lucene

    lucene()
    from pyserini.output_writer import OutputFormat, get_output_writer
    from pyserini.trectools import TrecRun

    ranked = reranker.rerank(QUERY, [Candidate(d, 1.0, full_text(d)) for d in DOCS])
    path = tmp_path / "run.trec"
    with get_output_writer(str(path), OutputFormat.TREC, "w", max_hits=10, tag="qpeft") as writer:
        writer.write("q1", ranked)
    lines = path.read_text().splitlines()
    assert [line.split()[2] for line in lines] == [c.docid for c in ranked]
    run = TrecRun.from_search_results([(c.docid, c.score) for c in ranked], topic="q1")
    assert list(run.get_docs_by_topic("q1")["docid"]) == [c.docid for c in ranked]
