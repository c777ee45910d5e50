"""``pyserini-qpeft rerank`` in-process: a TREC run in, a reranked TREC run out (tiny random model)."""

import pytest

from pyserini_qpeft.cli.common import CLI_RERANKER
from pyserini_qpeft.cli.pipeline_file import RerankerOptions
from pyserini_qpeft.runs.trec import read_run

from _cli import assert_one_line_error, cli, flag_actions
from conftest import search_scifact


@pytest.fixture(scope="module")
def small_run(scifact, scifact_index, tmp_path_factory):
    """BM25 top 4 of the first 2 scifact test queries."""
    path = tmp_path_factory.mktemp("bm25") / "bm25.trec"
    return search_scifact(path, scifact, scifact_index, "--max-queries", "2", "--hits", "4")


def rerank(capsys, scifact, scifact_index, model, run, output, *extra):
    return cli(
        capsys,
        "-q",
        "rerank",
        "--run",
        run,
        "--index",
        scifact_index,
        "--beir",
        scifact,
        "--model",
        model,
        "--max-length",
        128,
        "--output",
        output,
        *extra,
    )


def test_rerank_reranks_every_hit_unless_told(capsys, tmp_path, scifact, scifact_index, tiny_model_dir, small_run):
    code, out, err = rerank(capsys, scifact, scifact_index, tiny_model_dir, small_run, tmp_path / "all.trec")
    assert code == 0, err
    bm25, reranked = read_run(small_run), read_run(tmp_path / "all.trec")
    assert list(reranked) == list(bm25)
    assert all(sorted(d for d, _ in reranked[q]) == sorted(d for d, _ in bm25[q]) for q in bm25)
    assert all(score < 0 for hits in reranked.values() for _, score in hits)  # every hit has an LM score


@pytest.mark.parametrize("flag", ["--depth", "--rerank-depth"])
def test_depth_and_its_other_spelling(capsys, tmp_path, scifact, scifact_index, tiny_model_dir, small_run, flag):
    output = tmp_path / "top2.trec"
    code, out, err = rerank(capsys, scifact, scifact_index, tiny_model_dir, small_run, output, flag, 2)
    assert code == 0, err
    bm25, reranked = read_run(small_run), read_run(output)
    for qid, hits in reranked.items():
        assert [d for d, _ in hits[2:]] == [d for d, _ in bm25[qid][2:]]  # below the depth: BM25's order
        assert {d for d, _ in hits[:2]} == {d for d, _ in bm25[qid][:2]}


def test_depth_zero_names_the_flag(capsys, tmp_path, scifact, scifact_index, tiny_model_dir, small_run):
    output = tmp_path / "r.trec"
    code, out, err = rerank(capsys, scifact, scifact_index, tiny_model_dir, small_run, output, "--depth", 0)
    assert_one_line_error(code, err, "rerank", "--rerank-depth", "greater than or equal to 1", "got 0")
    assert not (tmp_path / "r.trec").exists()


def test_rerank_flags_are_the_reranker_options():
    """The reranker flags are RerankerOptions' fields with its defaults, but the command line's own depth (all)."""
    actions = flag_actions("rerank")
    assert CLI_RERANKER == {"depth": {"default": None}}
    for name, info in RerankerOptions.model_fields.items():
        default = CLI_RERANKER.get(name, {}).get("default", info.default)
        assert actions[name].default == default and actions[name].help.startswith(info.description)
    assert actions["model"].required and actions["model"].option_strings == ["--model"]
    assert actions["depth"].help.endswith("(default: all)")
    assert actions["dtype"].default == "auto"

    assert actions["dtype"].choices == [
        "auto",
        "float32",
        "fp32",
        "float",
        "bfloat16",
        "bf16",
        "float16",
        "fp16",
        "half",
    ]


def test_rerank_without_an_index_reads_the_beir_corpus(
    capsys, tmp_path, scifact, scifact_index, tiny_model_dir, small_run
):
    """No Java needed: the texts of --beir's corpus give the run the index gives (a GPU node has no Java)."""
    code, _, err = rerank(capsys, scifact, scifact_index, tiny_model_dir, small_run, tmp_path / "index.trec")
    assert code == 0, err
    args = ["-q", "rerank", "--run", small_run, "--beir", scifact, "--model", tiny_model_dir, "--max-length", 128]
    code, _, err = cli(capsys, *args, "--output", tmp_path / "corpus.trec")
    assert code == 0, err
    assert (tmp_path / "corpus.trec").read_bytes() == (tmp_path / "index.trec").read_bytes()
    topics = tmp_path / "topics.tsv"
    topics.write_text("1\tsome query\n")
    code, _, err = cli(capsys, "rerank", "--run", small_run, "--topics", topics, "--model", tiny_model_dir,
                       "--output", tmp_path / "none.trec")  # fmt: skip
    assert_one_line_error(code, err, "rerank", "give --index DIR")
    assert not (tmp_path / "none.trec").exists()


@pytest.mark.parametrize(
    "flag, value, words",
    [
        ("--max-length", 8, "--max-length: Input should be greater than or equal to 16, got 8"),
        ("--batch-size", 0, "--batch-size: Input should be greater than or equal to 1, got 0"),
        ("--fusion-weight", 2, "--fusion-weight: Input should be less than or equal to 1, got 2.0"),
        ("--model", "some-org/not-local", "cannot load model 'some-org/not-local'"),
    ],
)
def test_cheap_checks_name_the_flag_before_java_or_the_model_load(capsys, tmp_path, scifact, flag, value, words):
    """The index does not exist and the topics are not read: the flag's own error must come first."""
    run = tmp_path / "in.trec"
    run.write_text("1 Q0 d 1 1.0 bm25\n")
    argv = ["-q", "rerank", "--run", run, "--index", tmp_path / "no-index", "--beir", scifact]
    argv += ["--model", "no-such-model-folder", "--output", tmp_path / "out.trec", flag, value]
    code, _, err = cli(capsys, *argv)
    assert_one_line_error(code, err, "rerank", words)
    assert "QPEFTConfig" not in err and sorted(p.name for p in tmp_path.iterdir()) == ["in.trec"]


def test_the_library_run_rerank_writes_the_cli_bytes_and_resumes(
    capsys, tmp_path, scifact, scifact_index, tiny_model_dir, small_run, scifact_searcher
):
    """rerank_run_to_file, the loop under the CLI, called from Python: the same bytes as `rerank`, nothing left
    beside them (resuming is tested through the CLI, tests/test_lock.py and tests/test_journal.py)."""
    from pyserini_qpeft import QPEFTReranker
    from pyserini_qpeft.runs.beir import load_queries
    from pyserini_qpeft.runs.rerank import rerank_run_to_file

    code, _, err = rerank(
        capsys,
        scifact,
        scifact_index,
        tiny_model_dir,
        small_run,
        tmp_path / "cli.trec",
        "--depth",
        3,
        "--dtype",
        "float32",
    )
    assert code == 0, err
    reranker = QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32", max_length=128)
    run, queries = read_run(small_run), load_queries(scifact, "test")
    output = tmp_path / "api.trec"
    assert rerank_run_to_file(reranker, run, queries, scifact_searcher, output, depth=3) == len(run)
    assert output.read_bytes() == (tmp_path / "cli.trec").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.trec", "cli.trec"]  # no journal or lock left
