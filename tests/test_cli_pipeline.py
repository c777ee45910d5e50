"""``pyserini-qpeft pipeline CONFIG.yaml`` in-process: index, BM25, rerank and evaluate from one file."""

import json

from pyserini_qpeft.cli.main import main

from _pipeline_yaml import base, write


def test_pipeline_end_to_end_with_a_tiny_reranker(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    path = write(
        tmp_path,
        base(scifact, index=scifact_index) + f"reranker: {{model: {tiny_model_dir}, depth: 5, max_length: 256}}\n",
    )
    assert main(["-q", "pipeline", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bm25" in out and "reranked" in out and "nDCG@10" in out
    report = json.loads((tmp_path / "out" / "run.trec.metrics.json").read_text())
    assert report["queries"] == 3 and set(report["metrics"]) == {"bm25", "reranked"}
    assert (tmp_path / "out" / "run.bm25.trec").is_file() and (tmp_path / "out" / "run.trec").is_file()
    assert 0 <= report["metrics"]["reranked"]["nDCG@10"] <= 1


def test_pipeline_cli_errors_are_one_line(tmp_path, scifact, capsys):
    path = write(tmp_path, base(scifact) + "reranker: {modle: x}\n")
    assert main(["-q", "pipeline", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reranker.modle" in err[0] and str(path) in err[0]
    assert f"{path}:7: unknown key 'reranker.modle'" in err[0]  # the file's line 7


def test_a_failed_pipeline_leaves_no_bm25_run(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    path = write(
        tmp_path,
        base(scifact, index=scifact_index) + f"reranker: {{model: {tiny_model_dir}, depth: 5, max_length: 16}}\n",
    )
    assert main(["-q", "pipeline", str(path)]) == 1  # max_length too small for the queries: fails while reranking
    assert "too long for max_length" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run.trec.journal"]  # only what --resume needs
