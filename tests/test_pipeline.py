import json

import pytest

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.pipeline_config import load_pipeline_config


def write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
collection: {beir: %(beir)s}
index: {path: %(index)s, build: never}
topics: {split: test, max_queries: 3}
first_stage: {hits: 10}
output: {run: out/run.trec}
"""


def base(tmp_path, scifact, index="idx"):
    return BASE % {"beir": scifact, "index": index}


def test_paths_resolve_relative_to_the_config_and_defaults_fill_in(tmp_path, scifact):
    config = load_pipeline_config(write(tmp_path, base(tmp_path, scifact)))
    assert config.index.path == str((tmp_path / "idx").resolve())
    assert config.output.run == str((tmp_path / "out" / "run.trec").resolve())
    assert config.topics.beir == str(scifact) and config.reranker is None
    assert config.evaluation.qrels.endswith("qrels/test.tsv")
    assert config.evaluation.metrics == ["nDCG@10", "R@100", "MRR@10"]


@pytest.mark.parametrize("extra, message", [
    ("reranker: {model: m, dept: 5}\n", "unknown key 'reranker.dept'; allowed: model, depth"),
    ("first_stage: {hits: many}\n", "'first_stage.hits' = 'many' has the wrong type"),
    ("outputs: {run: x}\n", "unknown sections \\['outputs'\\]"),
    ("index: {path: x, build: sometimes}\n", "'index.build' = 'sometimes'; use auto, always or never"),
    ("evaluation: {metrics: [nDCG@10, Bogus@3]}\n", "unknown metric 'Bogus@3'"),
    ("reranker: {model: m, depth: 0}\n", "'reranker.depth' must be at least 1"),
])
def test_bad_configs_name_the_key_and_the_fix(tmp_path, scifact, extra, message):
    with pytest.raises(InputError, match=message):
        load_pipeline_config(write(tmp_path, base(tmp_path, scifact) + extra))


def test_yaml_errors_and_overrides(tmp_path, scifact):
    broken = write(tmp_path, "index:\n  path: [unclosed\n", "broken.yaml")
    with pytest.raises(InputError, match=r"broken.yaml:\d+: not valid YAML"):
        load_pipeline_config(broken)
    path = write(tmp_path, base(tmp_path, scifact))
    config = load_pipeline_config(path, ["first_stage.hits=50", "reranker.model=some/model", "reranker.depth=7"])
    assert config.first_stage.hits == 50 and config.reranker.model == "some/model" and config.reranker.depth == 7
    with pytest.raises(InputError, match="use section.key=value"):
        load_pipeline_config(path, ["hits=5"])
    with pytest.raises(InputError, match="unknown section 'rerankr'"):
        load_pipeline_config(path, ["rerankr.depth=5"])
    with pytest.raises(InputError, match="'output.run' is required"):
        load_pipeline_config(write(tmp_path, "index: {path: %s}\ntopics: {beir: %s}\n" % (tmp_path, scifact), "x.yaml"))


def test_pipeline_end_to_end_with_a_tiny_reranker(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    path = write(tmp_path, base(tmp_path, scifact, index=scifact_index)
                 + f"reranker: {{model: {tiny_model_dir}, depth: 5, max_length: 256}}\n")
    assert main(["-q", "pipeline", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bm25" in out and "reranked" in out and "nDCG@10" in out
    report = json.loads((tmp_path / "out" / "run.trec.metrics.json").read_text())
    assert report["queries"] == 3 and set(report["metrics"]) == {"bm25", "reranked"}
    assert (tmp_path / "out" / "run.bm25.trec").is_file() and (tmp_path / "out" / "run.trec").is_file()
    assert 0 <= report["metrics"]["reranked"]["nDCG@10"] <= 1


def test_pipeline_cli_errors_are_one_line(tmp_path, scifact, capsys):
    path = write(tmp_path, base(tmp_path, scifact) + "reranker: {modle: x}\n")
    assert main(["-q", "pipeline", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reranker.modle" in err[0] and str(path) in err[0]


def test_a_reranker_section_without_a_model_is_an_error_not_a_bm25_run(tmp_path, scifact):
    for extra in ("reranker: {depth: 5}\n", "reranker:\n"):
        with pytest.raises(InputError, match="'reranker.model' is required"):
            load_pipeline_config(write(tmp_path, base(tmp_path, scifact) + extra))
    with pytest.raises(InputError, match="'reranker.model' is required"):
        load_pipeline_config(write(tmp_path, base(tmp_path, scifact)), ["reranker.depth=50"])


def test_a_failed_pipeline_leaves_no_bm25_run(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    path = write(tmp_path, base(tmp_path, scifact, index=scifact_index)
                 + f"reranker: {{model: {tiny_model_dir}, depth: 5, max_length: 16}}\n")
    assert main(["-q", "pipeline", str(path)]) == 1  # max_length too small for the queries: fails while reranking
    assert "too long for max_length" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run.trec.journal"]  # only what --resume needs
