"""``pyserini-qpeft evaluate`` in-process: trec_eval metrics of real and hand-made runs, and bad inputs."""

import json

import pytest

from pyserini_qpeft.cli.main import build_parser
from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS
from pyserini_qpeft.runs.trec import write_run

from _cli import assert_one_line_error, cli, files_in


def test_evaluate_scifact_bm25_json(capsys, scifact, bm25_scifact_run):
    qrels = scifact / "qrels" / "test.tsv"
    code, out, err = cli(capsys, "evaluate", "--run", bm25_scifact_run, "--qrels", qrels, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["queries"] == 300
    assert result["run"] == str(bm25_scifact_run)
    assert result["metrics"]["nDCG@10"] == pytest.approx(0.6789, abs=0.002)
    assert result["metrics"]["R@100"] > 0.9
    assert 0.55 < result["metrics"]["MRR@10"] < result["metrics"]["R@100"]


def test_evaluate_scifact_table(capsys, scifact, bm25_scifact_run):
    code, out, err = cli(capsys, "evaluate", "--run", bm25_scifact_run, "--qrels", scifact / "qrels" / "test.tsv")
    assert code == 0
    rows = dict(line.split() for line in out.strip().splitlines())
    assert list(rows) == ["queries", "nDCG@10", "R@100", "MRR@10"]
    assert rows["queries"] == "300"
    assert float(rows["nDCG@10"]) == pytest.approx(0.6789, abs=0.002)
    assert all(len(value.split(".")[1]) == 4 for key, value in rows.items() if key != "queries")


def test_evaluate_against_train_qrels_shares_no_queries(capsys, scifact, bm25_scifact_run):
    code, out, err = cli(capsys, "evaluate", "--run", bm25_scifact_run, "--qrels", scifact / "qrels" / "train.tsv")
    assert_one_line_error(code, err, "evaluate", "share no query ids")
    assert out == ""


def test_evaluate_hand_made(capsys, tmp_path):
    run = tmp_path / "run.trec"
    write_run(run, {"q1": [("d1", 3.0), ("d2", 2.0)], "q2": [("x", 1.0)]}, "t")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d2 1\nq3 0 d9 1\n", encoding="utf-8")
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", qrels)
    assert code == 0
    assert out.splitlines() == ["queries  1", "nDCG@10  0.6309", "R@100    1.0000", "MRR@10   0.5000"]
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", qrels, "-c", "--metrics", "MRR,P@1", "--json")
    assert code == 0
    assert json.loads(out)["queries"] == 2
    assert json.loads(out)["metrics"] == pytest.approx({"MRR": 0.25, "P@1": 0.0})


def test_evaluate_malformed_run(capsys, scifact, tmp_path):
    run = tmp_path / "run.trec"
    run.write_text("1 Q0 31715818 1 2.5 bm25\n1 Q0 123 2 bm25\n", encoding="utf-8")
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", scifact / "qrels" / "test.tsv")
    assert_one_line_error(code, err, "evaluate", f"{run}:2:", "expected 6 fields")
    assert out == ""
    assert files_in(tmp_path) == ["run.trec"]


def test_evaluate_bad_qrels_and_metrics(capsys, tmp_path):
    run = tmp_path / "run.trec"
    write_run(run, {"q1": [("d1", 1.0)]}, "t")
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", tmp_path / "missing.tsv")
    assert_one_line_error(code, err, "evaluate", tmp_path / "missing.tsv", "not found")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q1\td1\t1\nq1 d2\n", encoding="utf-8")
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", qrels)
    assert_one_line_error(code, err, "evaluate", f"{qrels}:2:")
    qrels.write_text("q1\td1\t1\n", encoding="utf-8")
    code, out, err = cli(capsys, "evaluate", "--run", run, "--qrels", qrels, "--metrics", "nDCG@10,bogus@3")
    assert_one_line_error(code, err, "evaluate", "'bogus@3'")


def test_default_metrics_are_named_once():
    """The command's help and its table both come from evaluation.DEFAULT_METRICS."""
    assert list(DEFAULT_METRICS) == ["nDCG@10", "R@100", "MRR@10"]
    assert "(" + ", ".join(DEFAULT_METRICS) + " by default)" in build_parser().format_help()
