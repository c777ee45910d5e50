"""Fusion inside the model: the checkpoint's BM25 weight applied by rerank(), the CLI and the adapters;
overridable; predict() stays the LM score; train picks the weight on dev and saves it."""

import json

import pytest

from pyserini_qpeft import Candidate, QPEFTReranker
from pyserini_qpeft.cli.main import main
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.integrations.toolkits import Query, RankCandidate, RankQuery, Request, Text
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.runs.fusion import fuse, interpolate
from pyserini_qpeft.runs.trec import read_run

from _tiny_models import tiny_reranker

DOCS = {
    "d1": "Aspirin lowers the risk of heart attack.",
    "d2": "Vitamin D deficiency is common.",
    "d3": "Radiation therapy changes gene expression.",
    "d4": "Exercise improves insulin sensitivity.",
}
FIRST = {"d1": 9.0, "d2": 7.5, "d3": 7.0, "d4": 3.0}
QUERY = "Does aspirin prevent heart attacks?"


def make_reranker(weight):
    return tiny_reranker(base_model="tiny", max_length=128, fusion_weight=weight)


def candidates():
    return [Candidate(docid=d, score=FIRST[d], text=t) for d, t in DOCS.items()]


def test_rerank_applies_the_checkpoint_weight_like_interpolate_does():
    reranker = make_reranker(0.4)
    lm = {c.docid: c.score for c in reranker.rerank(QUERY, candidates(), fusion_weight=None)}
    fused = reranker.rerank(QUERY, candidates())
    expected = interpolate({"q": list(FIRST.items())}, {"q": list(lm.items())}, 0.4, depth=4)["q"]
    assert [(c.docid, round(c.score, 9)) for c in fused] == [(d, round(s, 9)) for d, s in expected]
    assert all(0.0 <= c.score <= 1.0 for c in fused)  # a mix of two min-max normalised scores


def test_the_weight_can_be_overridden_or_switched_off_and_predict_stays_the_lm_score():
    reranker = make_reranker(0.4)
    only_bm25 = reranker.rerank(QUERY, candidates(), fusion_weight=1.0)
    assert [c.docid for c in only_bm25] == ["d1", "d2", "d3", "d4"]
    lm = reranker.rerank(QUERY, candidates(), fusion_weight=None)
    assert {c.docid: c.score for c in lm} == pytest.approx(dict(zip(DOCS, reranker.score(QUERY, list(DOCS.values())))))
    assert reranker.predict([(QUERY, t) for t in DOCS.values()]) == pytest.approx(
        reranker.score(QUERY, list(DOCS.values()))
    )
    for bad in (1.5, -0.1, "half", True):
        with pytest.raises(InputError, match=r"fusion weight must be a number in \[0, 1\]"):
            reranker.rerank(QUERY, candidates(), fusion_weight=bad)


def test_a_bare_lm_has_no_weight_so_no_fusion():
    reranker = make_reranker(None)
    assert reranker.fusion() is None
    plain = reranker.rerank(QUERY, candidates())
    assert {c.docid: c.score for c in plain} == pytest.approx(
        dict(zip(DOCS, reranker.score(QUERY, list(DOCS.values()))))
    )


def test_rank_llm_and_pygaggle_candidates_with_scores_are_fused():
    reranker = make_reranker(0.4)
    lm_scores = reranker.score(QUERY, list(DOCS.values()))
    expected = dict(zip(DOCS, fuse(list(FIRST.values()), lm_scores, 0.4)))
    request = Request(RankQuery(QUERY, "q"), [RankCandidate(d, FIRST[d], {"contents": t}) for d, t in DOCS.items()])
    [result] = reranker.rerank_batch([request])
    assert {c.docid: c.score for c in result.candidates} == pytest.approx(expected)
    texts = [Text(t, {"docid": d}, FIRST[d]) for d, t in DOCS.items()]
    ranked = reranker.rerank(Query(QUERY), texts)
    assert {t.metadata["docid"]: t.score for t in ranked} == pytest.approx(expected)
    unscored = [Text(t, {"docid": d}, None) for d, t in DOCS.items()]  # no first-stage score: the LM's alone
    assert {t.metadata["docid"]: t.score for t in reranker.rerank(Query(QUERY), unscored)} == pytest.approx(
        dict(zip(DOCS, lm_scores))
    )


def test_a_checkpoint_saves_and_loads_its_weight(tmp_path, tiny_model_dir):
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu")
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="prompt", max_length=128, fusion_weight=0.35)
    QPEFTReranker.from_lm(lm, tokenizer, config).save_pretrained(str(tmp_path / "ckpt"))
    assert QPEFTReranker.from_pretrained(str(tmp_path / "ckpt")).fusion() == 0.35
    with pytest.raises(InputError, match="fusion_weight"):
        QPEFTConfig(fusion_weight=2.0)


def test_cli_rerank_fuses_by_default_names_the_weight_and_obeys_the_flags(
    tmp_path, scifact, scifact_index, tiny_model_dir, bm25_scifact_run
):
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu")
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="prompt", max_length=256, fusion_weight=0.5)
    ckpt = tmp_path / "ckpt"
    QPEFTReranker.from_lm(lm, tokenizer, config).save_pretrained(str(ckpt))
    common = [
        "-q",
        "rerank",
        "--run",
        str(bm25_scifact_run),
        "--index",
        str(scifact_index),
        "--beir",
        str(scifact),
        "--max-queries",
        "3",
        "--depth",
        "5",
        "--model",
        str(ckpt),
    ]
    runs = {}
    for name, extra in (("default", []), ("off", ["--no-fusion"]), ("one", ["--fusion-weight", "1"])):
        out = tmp_path / f"{name}.trec"
        assert main([*common, "--output", str(out), *extra]) == 0
        runs[name] = out
    tags = {name: {line.split()[-1] for line in path.read_text().splitlines()} for name, path in runs.items()}
    assert tags == {"default": {"qpeft-fused0.50"}, "off": {"qpeft"}, "one": {"qpeft-fused1.00"}}
    bm25 = read_run(bm25_scifact_run)
    one = read_run(runs["one"])
    assert all([d for d, _ in one[q][:5]] == [d for d, _ in bm25[q][:5]] for q in one)  # weight 1: BM25's order
    off, fused = read_run(runs["off"]), read_run(runs["default"])
    expected = interpolate({q: bm25[q] for q in off}, off, 0.5, depth=5)
    assert {q: [d for d, _ in hits[:5]] for q, hits in fused.items()} == {
        q: [d for d, _ in hits[:5]] for q, hits in expected.items()
    }


def test_train_picks_the_fusion_weight_on_dev_and_saves_it(tmp_path, scifact, scifact_index, tiny_model_dir):
    output = tmp_path / "ckpt"
    argv = [
        "-q",
        "train",
        "--beir",
        str(scifact),
        "--index",
        str(scifact_index),
        "--model",
        str(tiny_model_dir),
        "--output",
        str(output),
        "--max-queries",
        "8",
        "--dev-fraction",
        "0.5",
        "--epochs",
        "1",
        "--max-length",
        "160",
        "--batch-size",
        "2",
        "--negatives",
        "1",
        "--in-batch",
        "1",
        "--num-virtual-tokens",
        "2",
        "--variant",
        "prompt",
        "--fusion-depth",
        "4",
    ]
    assert main(argv) == 0
    summary = json.loads((output / "training_summary.json").read_text())
    fusion = summary["fusion"]
    assert fusion["depth"] == 4 and fusion["dev_queries"] == summary["dev_queries"] == 4
    curve = {float(w): v for w, v in fusion["dev_ndcg@10_by_weight"].items()}
    assert len(curve) == 21 and curve[fusion["weight"]] == max(curve.values())
    assert QPEFTReranker.from_pretrained(str(output)).fusion() == fusion["weight"]
