import math

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS, MAX_CUTOFF, evaluate, metric_list, per_query

INV_LOG2_3 = 1 / math.log2(3)  # discount at rank 2

QRELS = {
    "q1": {"d2": 1},  # one relevant doc, retrieved at rank 2
    "q2": {"a": 2, "b": 1, "c": 1},  # graded; c is never retrieved
    "q3": {"z": 1},  # judged but absent from the run
}
RUN = {
    "q1": [("d1", 3.0), ("d2", 2.0), ("d3", 1.0)],
    "q2": [("a", 9.0), ("x", 8.0), ("b", 7.0)],
    "q9": [("d1", 1.0)],  # in the run, not judged: ignored
}

# q2 by hand, trec_eval gains are the relevance values: DCG = 2/1 + 0 + 1/log2(4) = 2.5,
# ideal = 2/1 + 1/log2(3) + 1/log2(4)
Q2_NDCG = 2.5 / (2 + INV_LOG2_3 + 0.5)


def test_single_query_by_hand():
    scores = evaluate({"q1": RUN["q1"]}, {"q1": QRELS["q1"]})
    assert list(scores) == list(DEFAULT_METRICS)
    assert scores["MRR@10"] == pytest.approx(0.5)
    assert scores["nDCG@10"] == pytest.approx(INV_LOG2_3)
    assert scores["R@100"] == pytest.approx(1.0)


def test_per_query_by_hand():
    table = per_query(RUN, QRELS)
    assert table["nDCG@10"] == pytest.approx({"q1": INV_LOG2_3, "q2": Q2_NDCG})
    assert table["R@100"] == pytest.approx({"q1": 1.0, "q2": 2 / 3})
    assert table["MRR@10"] == pytest.approx({"q1": 0.5, "q2": 1.0})


def test_default_averages_over_queries_in_the_run():
    """trec_eval's default: judged queries that the run answers (q3 is left out, q9 is unjudged)."""
    scores = evaluate(RUN, QRELS)
    assert scores["nDCG@10"] == pytest.approx((INV_LOG2_3 + Q2_NDCG) / 2)
    assert scores["R@100"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["MRR@10"] == pytest.approx(0.75)


def test_complete_counts_missing_queries_as_zero():
    scores = evaluate(RUN, QRELS, complete=True)
    assert scores["nDCG@10"] == pytest.approx((INV_LOG2_3 + Q2_NDCG) / 3)
    assert scores["R@100"] == pytest.approx((1 + 2 / 3) / 3)
    assert scores["MRR@10"] == pytest.approx(0.5)
    assert per_query(RUN, QRELS, complete=True)["MRR@10"] == {"q1": 0.5, "q2": 1.0, "q3": 0.0}


def test_other_metrics_by_hand():
    run = {"q1": RUN["q1"]}
    qrels = {"q1": QRELS["q1"]}
    scores = evaluate(run, qrels, ["MAP", "P@5", "nDCG", "MRR", "recall@2", "R@1", "map@1", "ndcg@1"])
    assert scores == pytest.approx(
        {
            "MAP": 0.5,
            "P@5": 0.2,
            "nDCG": INV_LOG2_3,
            "MRR": 0.5,
            "recall@2": 1.0,
            "R@1": 0.0,
            "map@1": 0.0,
            "ndcg@1": 0.0,
        }
    )


def test_cutoffs():
    """A relevant document at rank 11 counts for R@100 and MRR, not for nDCG@10 or MRR@10."""
    hits = [(f"n{i:02d}", 100.0 - i) for i in range(10)] + [("rel", 50.0)]
    scores = evaluate({"q": hits}, {"q": {"rel": 1}}, ["nDCG@10", "MRR@10", "MRR", "R@100", "R@10"])
    assert scores == pytest.approx({"nDCG@10": 0.0, "MRR@10": 0.0, "MRR": 1 / 11, "R@100": 1.0, "R@10": 0.0})


def test_ranking_follows_scores_not_list_order():
    hits = [("d1", 1.0), ("d2", 2.0)]  # d2 has the higher score, so it is ranked first
    scores = evaluate({"q": hits}, {"q": {"d2": 1}}, ["nDCG@10", "MRR"])
    assert scores == pytest.approx({"nDCG@10": 1.0, "MRR": 1.0})


def test_mrr_cutoff_ranks_by_score_like_the_other_metrics():
    hits = [(f"n{i:02d}", 1.0 - i / 100) for i in range(10)] + [("rel", 5.0)]  # best score, 11th in the list
    scores = evaluate({"q": hits}, {"q": {"rel": 1}}, ["nDCG@10", "R@10", "MRR@10"])
    assert scores["nDCG@10"] == pytest.approx(1.0)
    assert scores["R@10"] == pytest.approx(1.0)
    assert scores["MRR@10"] == pytest.approx(1.0)


def test_non_relevant_judgments_only():
    scores = evaluate({"q": [("a", 1.0)]}, {"q": {"a": 0}})
    assert scores == pytest.approx({"nDCG@10": 0.0, "R@100": 0.0, "MRR@10": 0.0})


@pytest.mark.parametrize("metric", ["foo@3", "P", "R", "mrrr@10"])
def test_unknown_metric(metric):
    with pytest.raises(InputError) as info:
        evaluate({"q1": RUN["q1"]}, QRELS, [metric])
    assert f"unknown metric {metric!r}" in str(info.value)


@pytest.mark.parametrize("metric", ["nDCG@ten", "recip_rank", "nDCG@10@5", "P@-1"])
def test_unreadable_metric(metric):
    with pytest.raises(InputError) as info:
        metric_list(metric)
    assert f"cannot read {metric!r}" in str(info.value)


def test_metric_list():
    assert metric_list(None) == list(DEFAULT_METRICS)
    assert metric_list("") == list(DEFAULT_METRICS)
    assert metric_list(" nDCG@10, MAP ,,P@5") == ["nDCG@10", "MAP", "P@5"]


@pytest.mark.parametrize("metric", ["nDCG@0", "map@0", "MRR@0", "P@000", "R@0"])
def test_a_cutoff_below_one_is_refused(metric):
    """pytrec_eval aborts the process on nDCG@0 and map@0; MRR@0 would print 0.0000."""
    with pytest.raises(InputError, match=rf"^--metrics: '{metric}': the cutoff must be from 1 to {MAX_CUTOFF}"):
        metric_list(metric)
    with pytest.raises(InputError, match="the cutoff must be from 1"):
        evaluate({"q1": RUN["q1"]}, QRELS, [metric])


@pytest.mark.parametrize(
    "metric", [f"nDCG@{MAX_CUTOFF + 1}", "nDCG@4294967297", "nDCG@99999999999999999999", "R@" + "9" * 5000]
)
def test_a_cutoff_above_the_cap_is_refused(metric):
    with pytest.raises(InputError) as info:
        metric_list(metric)
    assert f"the cutoff must be from 1 to {MAX_CUTOFF}" in str(info.value) and len(str(info.value)) < 300


def test_a_cutoff_deeper_than_the_run_counts_the_whole_run_as_trec_eval_does():
    deep = evaluate({"q2": RUN["q2"]}, QRELS, [f"nDCG@{MAX_CUTOFF}", f"MRR@{MAX_CUTOFF}", "nDCG@0010"])
    assert deep == pytest.approx({f"nDCG@{MAX_CUTOFF}": Q2_NDCG, f"MRR@{MAX_CUTOFF}": 1.0, "nDCG@0010": Q2_NDCG})


@pytest.mark.parametrize("text", [",,,", " , ", ","])
def test_a_metric_list_naming_no_metric_is_refused(text):
    with pytest.raises(InputError, match="names no metric; use names like nDCG@10"):
        metric_list(text)


def test_evaluate_with_no_metrics_or_a_string_is_refused():
    with pytest.raises(InputError, match="no metric given"):
        evaluate({"q1": RUN["q1"]}, QRELS, [])
    with pytest.raises(InputError, match="must be a list of names, got the string 'nDCG@10'"):
        per_query({"q1": RUN["q1"]}, QRELS, "nDCG@10")


def test_no_shared_queries():
    with pytest.raises(InputError) as info:
        evaluate({"x": [("d1", 1.0)]}, QRELS)
    assert "share no query ids" in str(info.value)
    with pytest.raises(InputError):
        evaluate({"x": [("d1", 1.0)]}, QRELS, complete=True)


def test_evaluate_scifact_qrels_with_perfect_run(scifact):
    """A run that returns exactly the judged documents scores 1 on every metric."""
    from pyserini_qpeft.runs.beir import load_qrels

    qrels = load_qrels(scifact / "qrels" / "test.tsv")
    run = {qid: [(docid, 10.0 - i) for i, docid in enumerate(docs)] for qid, docs in qrels.items()}
    assert evaluate(run, qrels) == pytest.approx({"nDCG@10": 1.0, "R@100": 1.0, "MRR@10": 1.0})
