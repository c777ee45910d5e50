"""``pyserini-qpeft search`` in-process: BM25 runs of scifact and a topics file, its options, and bad inputs."""

import pytest

from pyserini_qpeft.cli.common import CLI_RERANKER
from pyserini_qpeft.cli.pipeline_file import FirstStage, RerankerOptions, Topics
from pyserini_qpeft.cli.search import CLI_FIRST_STAGE
from pyserini_qpeft.runs.trec import read_run

from _cli import assert_one_line_error, cli, files_in, flag_actions


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


def test_search_scifact_bm25(bm25_scifact_run):
    run = read_run(bm25_scifact_run)
    assert len(run) == 300
    assert all(1 <= len(hits) <= 100 for hits in run.values())
    assert sum(len(hits) == 100 for hits in run.values()) >= 290
    first = bm25_scifact_run.read_text(encoding="utf-8").splitlines()[0].split()
    assert first[0] == "1" and first[1] == "Q0" and first[3] == "1" and first[5] == "bm25"
    assert files_in(bm25_scifact_run.parent) == [bm25_scifact_run.name]  # no journal, lock or temporary file left


def test_search_topics_file(capsys, scifact_index, topics_file, tmp_path):
    output = tmp_path / "runs" / "topics.trec"
    code, out, err = cli(
        capsys,
        "-q",
        "search",
        "--index",
        scifact_index,
        "--topics",
        topics_file,
        "--hits",
        5,
        "--output",
        output,
        "--run-tag",
        "mine",
    )
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
    common = [
        "-q",
        "search",
        "--index",
        scifact_index,
        "--beir",
        scifact,
        "--split",
        "train",
        "--max-queries",
        12,
        "--hits",
        10,
    ]
    assert cli(capsys, *common, "--output", one)[0] == 0
    assert cli(capsys, *common, "--threads", 2, "--output", two)[0] == 0
    assert cli(capsys, *common, "--k1", 1.2, "--b", 0.75, "--output", other)[0] == 0
    run = read_run(one)
    assert len(run) == 12
    assert run == read_run(two)
    assert read_run(other) != run
    assert list(run) == list(read_run(other))


def test_search_missing_index(capsys, scifact, tmp_path):
    output = tmp_path / "run.trec"
    missing = tmp_path / "no-index"
    code, out, err = cli(capsys, "-q", "search", "--index", missing, "--beir", scifact, "--output", output)
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
    code, out, err = cli(
        capsys, "-q", "search", "--index", scifact_index, "--beir", scifact, "--split", "dev", "--output", output
    )
    assert_one_line_error(code, err, "search", "'dev'", "dev.tsv", "available splits: test, train")
    assert files_in(tmp_path) == []


def test_search_beir_and_topics(capsys, scifact, scifact_index, topics_file, tmp_path):
    output = tmp_path / "run.trec"
    code, out, err = cli(
        capsys, "-q", "search", "--index", scifact_index, "--beir", scifact, "--topics", topics_file, "--output", output
    )
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
    code, out, err = cli(
        capsys, *quiet, "search", "--index", scifact_index, "--topics", topics_file, "--hits", 0, "--output", output
    )
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


def test_search_flags_come_from_the_pipeline_sections():
    """--hits/--k1/--b/--threads are FirstStage's fields, the topic flags Topics', the reranker flags
    RerankerOptions'; the defaults are the YAML pipeline's except where the command line keeps its own."""
    actions = flag_actions("search")
    cli_defaults = {
        **{k: v["default"] for k, v in CLI_FIRST_STAGE.items()},
        **{k: v["default"] for k, v in CLI_RERANKER.items()},
    }
    assert cli_defaults == {"hits": 1000, "depth": None}
    for cls in (FirstStage, Topics, RerankerOptions):
        for name, info in cls.model_fields.items():
            if info.description:
                assert actions[name].default == cli_defaults.get(name, info.default), name
                assert actions[name].help.startswith(info.description)
    assert actions["model"].option_strings == ["--rerank"] and actions["file"].option_strings == ["--topics"]
    assert actions["depth"].option_strings == ["--rerank-depth", "--depth"]
    assert FirstStage().hits == 100 and RerankerOptions().depth == 20  # the YAML pipeline's defaults
