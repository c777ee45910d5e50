"""BM25 + reranker interpolation and the dev-split weight choice."""

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.evaluation import evaluate
from pyserini_qpeft.runs.fusion import interpolate, pick_weight

BM25 = {
    "q1": [("a", 12.0), ("b", 11.0), ("c", 10.0), ("d", 9.0), ("e", 8.0)],
    "q2": [("x", 5.0), ("y", 4.5), ("z", 1.0)],
}
RERANKED = {
    "q1": [("c", -0.5), ("b", -1.0), ("a", -2.0), ("d", -4.0), ("e", -5.0)],
    "q2": [("z", -0.1), ("x", -0.2), ("y", -3.0)],
}


def order(run, qid):
    return [docid for docid, _ in sorted(run[qid], key=lambda h: h[1], reverse=True)]


def test_the_extreme_weights_give_each_run_back():
    assert order(interpolate(BM25, RERANKED, 1.0, depth=5), "q1") == ["a", "b", "c", "d", "e"]
    assert order(interpolate(BM25, RERANKED, 0.0, depth=5), "q1") == ["c", "b", "a", "d", "e"]
    assert order(interpolate(BM25, RERANKED, 0.0, depth=3), "q2") == ["z", "x", "y"]


def test_scores_are_min_max_normalised_before_mixing():
    fused = dict(interpolate(BM25, RERANKED, 0.5, depth=3)["q2"])
    # BM25: x 1, y 0.875, z 0; reranker: z 1, x 2.8 / 2.9, y 0.
    assert fused["x"] == pytest.approx(0.5 * 1 + 0.5 * (2.8 / 2.9))
    assert fused["y"] == pytest.approx(0.5 * 0.875)
    assert fused["z"] == pytest.approx(0.5)


def test_hits_below_depth_keep_first_stage_order_under_the_fused_ones():
    fused = interpolate(BM25, RERANKED, 0.0, depth=2)["q1"]
    assert [d for d, _ in fused] == ["b", "a", "c", "d", "e"]
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert min(scores[:2]) > max(scores[2:])


def test_a_candidate_the_reranker_never_scored_is_an_error():
    with pytest.raises(InputError, match=r"query q1.*\['e'\]"):
        interpolate(BM25, {"q1": RERANKED["q1"][:4], "q2": RERANKED["q2"]}, 0.5, depth=5)
    with pytest.raises(InputError, match="weight"):
        interpolate(BM25, RERANKED, 1.5, depth=5)


def test_pick_weight_finds_the_best_mix_on_the_dev_qrels():
    qrels = {"q1": {"c": 1}, "q2": {"x": 1}}
    # c is BM25's third but the reranker's first; x is BM25's first and the reranker's second:
    # only a mix ranks both first.
    alpha, curve = pick_weight(BM25, RERANKED, qrels, depth=5, steps=20)
    assert set(curve) == {round(i / 20, 6) for i in range(21)}
    assert curve[alpha] == max(curve.values()) == pytest.approx(1.0)
    assert 0.0 < alpha < 1.0
    assert curve[0.0] < 1.0 and curve[1.0] < 1.0
    fused = interpolate(BM25, RERANKED, alpha, depth=5)
    assert evaluate(fused, qrels, ["nDCG@10"])["nDCG@10"] == pytest.approx(1.0)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -0.1, 1.5, "0.5", None, True])
def test_check_weight_says_a_number_from_0_to_1(weight):
    from pyserini_qpeft.runs.fusion import check_weight

    with pytest.raises(InputError, match=r"the fusion weight must be a number in \[0, 1\]"):
        check_weight(weight)
