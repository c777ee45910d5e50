"""What ``rerank`` and ``score`` accept: dispatch on the real types of queries and hits, clear errors otherwise."""

import math

import pytest

from pyserini_qpeft import Candidate
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.integrations.toolkits import Query, RankCandidate, RankQuery, Text

from _tiny_models import tiny_reranker

DOCS = {
    "d1": "Aspirin lowers the risk of heart attack.",
    "d2": "Vitamin D deficiency is common.",
    "d3": "Radiation therapy changes gene expression.",
}
QUERY = "Does aspirin prevent heart attacks?"


@pytest.fixture(scope="module")
def reranker():
    return tiny_reranker(base_model="tiny", max_length=128)


def candidates():
    return [Candidate(docid=d, score=3.0 - i, text=t) for i, (d, t) in enumerate(DOCS.items())]


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
def test_rerank_k_must_be_a_positive_integer(reranker, k):
    with pytest.raises(InputError, match="use an integer >= 1"):
        reranker.rerank(QUERY, candidates(), k=k)


def test_rerank_k_beyond_the_hits_reranks_them_all(reranker):
    assert sorted(c.docid for c in reranker.rerank(QUERY, candidates(), k=50)) == sorted(DOCS)


def test_score_refuses_a_single_string_instead_of_a_list(reranker):
    with pytest.raises(InputError, match="got one string; wrap it in a list"):
        reranker.score(QUERY, "some text")
    with pytest.raises(InputError, match=r"docs\[1\] is a int"):
        reranker.score(QUERY, ["text", 3])
    with pytest.raises(InputError, match="query must be a str"):
        reranker.score(Query(QUERY), ["text"])


def test_rerank_with_a_rank_llm_query_and_candidates_scores_like_a_string_query(reranker):
    expected = {c.docid: c.score for c in reranker.rerank(QUERY, candidates())}
    ranked = reranker.rerank(RankQuery(QUERY, "q1"), candidates())
    assert all(isinstance(c, Candidate) for c in ranked)
    assert {c.docid: c.score for c in ranked} == pytest.approx(expected)
    rank_llm = [RankCandidate(docid=d, score=1.0, doc={"contents": t}) for d, t in DOCS.items()]
    assert {c.docid: c.score for c in reranker.rerank(RankQuery(QUERY, "q1"), rank_llm)} == pytest.approx(expected)


def test_rerank_with_a_rank_llm_query_and_real_pyserini_hits(reranker, scifact_searcher):
    hits = scifact_searcher.search("microRNA and cancer", k=3)
    ranked = reranker.rerank(RankQuery("microRNA and cancer", "q1"), hits, searcher=scifact_searcher)
    assert sorted(c.docid for c in ranked) == sorted(h.docid for h in hits)
    assert all(isinstance(c, Candidate) and c.text for c in ranked)
    # The hit's own stored raw document is used when no searcher is given.
    assert [c.score for c in reranker.rerank("microRNA and cancer", hits)] == [c.score for c in ranked]


def test_rerank_with_pygaggle_texts_returns_texts_and_honours_k(reranker):
    texts = [Text(t, {"docid": d}, 0.0) for d, t in DOCS.items()]
    ranked = reranker.rerank(Query(QUERY), texts, k=2)
    assert all(isinstance(t, Text) for t in ranked)
    assert [t.metadata["docid"] for t in ranked[2:]] == ["d3"]
    scores = [t.score for t in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(t.score == 0.0 for t in texts)  # inputs untouched


@pytest.mark.parametrize(
    "hits, message",
    [
        (["d1", "d2"], "cannot rerank a str"),
        ("d1 d2", "hits must be a list"),
        ([object()], "cannot rerank a object"),
    ],
)
def test_rerank_names_what_it_cannot_rerank(reranker, hits, message):
    with pytest.raises(InputError, match=message):
        reranker.rerank(QUERY, hits)


def test_rerank_refuses_mixed_kinds_and_bad_queries(reranker):
    mixed = [candidates()[0], Text("x", {"docid": "t"}, 0.0)]
    with pytest.raises(InputError, match="mix several kinds"):
        reranker.rerank(QUERY, mixed)
    with pytest.raises(InputError, match="query must be a str or an object with a .text"):
        reranker.rerank(42, candidates())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("weight", ["checkpoint", 0.0, 0.5, None])
def test_rerank_refuses_non_finite_first_stage_scores(reranker, bad, weight):
    hits = candidates()
    hits[1].score = bad
    with pytest.raises(InputError, match=r"hits\[1\] \('d2'\) has first-stage score .*; scores must be finite"):
        reranker.rerank(QUERY, hits, fusion_weight=weight)


def test_rerank_refuses_a_document_listed_twice(reranker):
    hits = candidates() + [Candidate(docid="d1", score=0.0, text="again")]
    with pytest.raises(InputError, match=r"hits\[3\] \('d1'\) repeats hits\[0\]; rerank each document once"):
        reranker.rerank(QUERY, hits, fusion_weight=0.5)


def test_rank_llm_candidates_with_nan_scores_or_twice_are_refused(reranker):
    from pyserini_qpeft.integrations.toolkits import Request

    def request(scores, docids):
        cands = [RankCandidate(docid=d, score=s, doc={"contents": DOCS["d1"]}) for d, s in zip(docids, scores)]
        return Request(query=RankQuery(text=QUERY, qid="q"), candidates=cands)

    with pytest.raises(InputError, match="finite"):
        reranker.rerank_batch([request([1.0, float("nan")], ["a", "b"])], fusion_weight=0.0)
    with pytest.raises(InputError, match="repeats"):
        reranker.rerank_batch([request([1.0, 0.5], ["a", "a"])])


def test_finite_scores_give_a_sorted_finite_result_at_every_weight(reranker):
    for weight in (0.0, 0.3, 1.0, None):
        scores = [c.score for c in reranker.rerank(QUERY, candidates(), fusion_weight=weight)]
        assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)
