"""The first-stage command line (index, search, evaluate), run in-process through ``main``."""

import json
import subprocess
import sys

import pytest

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.runs import read_run, write_run

from conftest import REPO_ROOT


def cli(capsys, *args):
    """Run ``pyserini-qpeft ARGS``; returns (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop anything printed before
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, command, *words):
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pyserini-qpeft {command}: error: ")
    assert "Traceback" not in err
    for word in words:
        assert str(word) in lines[0]


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def topics_file(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text(
        "5\t1/2000 in UK have abnormal PrP positivity.\n"
        "36\tA deficiency of vitamin B12 increases blood levels of homocysteine.\n"
        "custom\tneuroprosthetic control tetraplegia\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def bm25_scifact_run(scifact, scifact_index, tmp_path_factory):
    """BM25 run of all 300 scifact test queries, top 100, written by `search`."""
    output = tmp_path_factory.mktemp("bm25") / "run.trec"
    code = main(["-q", "search", "--index", str(scifact_index), "--beir", str(scifact), "--split", "test",
                 "--hits", "100", "--output", str(output)])
    assert code == 0
    return output


# --- index ------------------------------------------------------------------------------------


def test_index(capsys, tiny_beir, tmp_path):
    from pyserini_qpeft.lucene_index import open_searcher

    target = tmp_path / "indexes" / "tiny"
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--threads", 1)
    assert code == 0
    assert out == ""
    assert any(target.glob("segments_*"))
    assert open_searcher(target).num_docs == 30
    assert files_in(target.parent) == ["tiny"]

    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)
    assert_one_line_error(code, err, "index", target, "--overwrite")
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--overwrite")
    assert code == 0
    assert open_searcher(target).num_docs == 30


def test_index_bad_corpus(capsys, tiny_beir, tmp_path):
    corpus = tiny_beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "{not json}\n", encoding="utf-8")
    target = tmp_path / "out" / "idx"
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)
    assert_one_line_error(code, err, "index", f"{corpus}:31:")
    assert not target.exists()
    assert not target.parent.exists() or files_in(target.parent) == []


def test_failed_overwrite_keeps_the_old_index(capsys, tiny_beir, tmp_path):
    from pyserini_qpeft.lucene_index import open_searcher

    target = tmp_path / "idx"
    assert cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)[0] == 0
    corpus = tiny_beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "{not json}\n", encoding="utf-8")
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--overwrite")
    assert_one_line_error(code, err, "index", f"{corpus}:31:")
    assert open_searcher(target).num_docs == 30


def test_index_missing_beir_folder(capsys, tmp_path):
    code, out, err = cli(capsys, "-q", "index", "--beir", tmp_path / "nope", "--index", tmp_path / "idx")
    assert_one_line_error(code, err, "index", tmp_path / "nope", "BEIR folder not found")
    assert files_in(tmp_path) == []


# --- search + evaluate on the real data -------------------------------------------------------


def test_search_scifact_bm25(bm25_scifact_run):
    run = read_run(bm25_scifact_run)
    assert len(run) == 300
    assert all(1 <= len(hits) <= 100 for hits in run.values())
    assert sum(len(hits) == 100 for hits in run.values()) >= 290
    first = bm25_scifact_run.read_text(encoding="utf-8").splitlines()[0].split()
    assert first[0] == "1" and first[1] == "Q0" and first[3] == "1" and first[5] == "bm25"
    assert files_in(bm25_scifact_run.parent) == ["run.trec"]


def test_evaluate_scifact_bm25_json(capsys, scifact, bm25_scifact_run):
    code, out, err = cli(capsys, "evaluate", "--run", bm25_scifact_run, "--qrels", scifact / "qrels" / "test.tsv", "--json")
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


def test_search_topics_file(capsys, scifact_index, topics_file, tmp_path):
    output = tmp_path / "runs" / "topics.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--topics", topics_file,
                         "--hits", 5, "--output", output, "--run-tag", "mine")
    assert code == 0
    run = read_run(output)
    assert list(run) == ["5", "36", "custom"]
    assert all(len(hits) == 5 for hits in run.values())
    assert run["5"][0][0] == "13734012"
    assert all(line.endswith(" mine") for line in output.read_text(encoding="utf-8").splitlines())


def test_search_options(capsys, scifact, scifact_index, tmp_path):
    """--max-queries, --threads and BM25 parameters."""
    one = tmp_path / "one.trec"
    two = tmp_path / "two.trec"
    other = tmp_path / "other.trec"
    common = ["-q", "search", "--index", scifact_index, "--beir", scifact, "--split", "train", "--max-queries", 12, "--hits", 10]
    assert cli(capsys, *common, "--output", one)[0] == 0
    assert cli(capsys, *common, "--threads", 2, "--output", two)[0] == 0
    assert cli(capsys, *common, "--k1", 1.2, "--b", 0.75, "--output", other)[0] == 0
    run = read_run(one)
    assert len(run) == 12
    assert run == read_run(two)
    assert read_run(other) != run
    assert list(run) == list(read_run(other))


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


# --- bad input: exit 1, one line on stderr, nothing written ------------------------------------


def test_search_missing_index(capsys, scifact, tmp_path):
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", tmp_path / "no-index", "--beir", scifact, "--output", output)
    assert_one_line_error(code, err, "search", tmp_path / "no-index", "index folder not found")
    assert files_in(tmp_path) == []


def test_search_not_an_index(capsys, scifact, tiny_beir, tmp_path):
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", tiny_beir, "--beir", scifact, "--output", output)
    assert_one_line_error(code, err, "search", tiny_beir, "not a Lucene index")
    assert not output.exists()


def test_search_beir_without_queries(capsys, scifact_index, tiny_beir, tmp_path):
    (tiny_beir / "queries.jsonl").unlink()
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--beir", tiny_beir, "--output", output)
    assert_one_line_error(code, err, "search", tiny_beir / "queries.jsonl", "not found")
    assert not output.exists()


def test_search_unknown_split(capsys, scifact, scifact_index, tmp_path):
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--beir", scifact, "--split", "dev",
                         "--output", output)
    assert_one_line_error(code, err, "search", "'dev'", "dev.tsv", "available splits: test, train")
    assert files_in(tmp_path) == []


def test_search_beir_and_topics(capsys, scifact, scifact_index, topics_file, tmp_path):
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--beir", scifact, "--topics", topics_file,
                         "--output", output)
    assert_one_line_error(code, err, "search", "--beir", "--topics")
    assert not output.exists()


def test_search_no_topics(capsys, scifact_index, tmp_path):
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--output", tmp_path / "run.trec")
    assert_one_line_error(code, err, "search", "--beir", "--topics")
    assert files_in(tmp_path) == []


def test_search_empty_topic_text(capsys, scifact_index, tmp_path):
    topics = tmp_path / "topics.tsv"
    topics.write_text("1\tfine query\n2\t \n", encoding="utf-8")
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, "-q", "search", "--index", scifact_index, "--topics", topics, "--output", output)
    assert_one_line_error(code, err, "search", f"{topics}:2:", "'2'", "empty")
    assert files_in(tmp_path) == ["topics.tsv"]


@pytest.mark.parametrize("quiet", [["-q"], []], ids=["quiet", "with-progress-bar"])
def test_search_zero_hits(capsys, scifact_index, topics_file, tmp_path, quiet):
    output = tmp_path / "run.trec"
    code, out, err = cli(capsys, *quiet, "search", "--index", scifact_index, "--topics", topics_file, "--hits", 0,
                         "--output", output)
    assert_one_line_error(code, err, "search", "--hits", "got 0")
    assert not output.exists()
    assert files_in(tmp_path) == ["topics.tsv"]


def test_search_bad_max_queries_and_tag(capsys, scifact_index, topics_file, tmp_path):
    output = tmp_path / "run.trec"
    common = ["-q", "search", "--index", scifact_index, "--topics", topics_file, "--hits", 3, "--output", output]
    code, out, err = cli(capsys, *common, "--max-queries", 0)
    assert_one_line_error(code, err, "search", "--max-queries")
    code, out, err = cli(capsys, *common, "--run-tag", "two words")
    assert_one_line_error(code, err, "search", "--run-tag", "'two words'")
    assert files_in(tmp_path) == ["topics.tsv"]


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


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["search", "--output", "x.trec"])
    assert info.value.code == 2
    assert "--index" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_module_help_and_version():
    result = subprocess.run([sys.executable, "-m", "pyserini_qpeft", "--help"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pyserini-qpeft" in result.stdout
    for command in ("index", "search", "rerank", "evaluate"):
        assert command in result.stdout
    result = subprocess.run([sys.executable, "-m", "pyserini_qpeft", "--version"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0
    import pyserini_qpeft

    assert result.stdout.strip() == f"pyserini-qpeft {pyserini_qpeft.__version__}"
