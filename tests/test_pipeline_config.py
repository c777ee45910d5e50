"""pyserini_qpeft.cli.pipeline_file: the YAML sections are pydantic models; errors name the file, line and key."""

import pytest
import yaml

from pyserini_qpeft.cli.pipeline_file import SECTIONS, FirstStage, RerankerOptions, load_pipeline_config
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.evaluation import DEFAULT_METRICS

from _pipeline_yaml import base, write


def test_paths_resolve_relative_to_the_config_and_defaults_fill_in(tmp_path, scifact):
    config = load_pipeline_config(write(tmp_path, base(scifact)))
    assert config.index.path == str((tmp_path / "idx").resolve())
    assert config.output.run == str((tmp_path / "out" / "run.trec").resolve())
    assert config.topics.beir == str(scifact) and config.reranker is None
    assert config.evaluation.qrels.endswith("qrels/test.tsv")
    assert config.evaluation.metrics == ["nDCG@10", "R@100", "MRR@10"] == list(DEFAULT_METRICS)


@pytest.mark.parametrize(
    "extra, message",
    [
        ("reranker: {model: m, dept: 5}\n", "unknown key 'reranker.dept'; allowed: model, depth"),
        ("first_stage: {hits: many}\n", "'first_stage.hits' = 'many': Input should be a valid integer"),
        ("outputs: {run: x}\n", "unknown section 'outputs'; allowed: collection, index, topics"),
        (
            "index: {path: x, build: sometimes}\n",
            "'index.build' = 'sometimes': Input should be 'auto', 'always' or 'never'",
        ),
        ("evaluation: {metrics: [nDCG@10, Bogus@3]}\n", "unknown metric 'Bogus@3'"),
        ("reranker: {model: m, depth: 0}\n", "'reranker.depth' = 0: Input should be greater than or equal to 1"),
    ],
)
def test_bad_configs_name_the_key_and_the_fix(tmp_path, scifact, extra, message):
    section = extra.split(":")[0]  # replaces the base's section of that name (a key may not be given twice)
    kept = [line for line in base(scifact).splitlines(keepends=True) if not line.startswith(f"{section}:")]
    with pytest.raises(InputError, match=message):
        load_pipeline_config(write(tmp_path, "".join(kept) + extra))


def test_yaml_errors_and_overrides(tmp_path, scifact):
    broken = write(tmp_path, "index:\n  path: [unclosed\n", "broken.yaml")
    with pytest.raises(InputError, match=r"broken.yaml:\d+: not valid YAML"):
        load_pipeline_config(broken)
    path = write(tmp_path, base(scifact))
    config = load_pipeline_config(path, ["first_stage.hits=50", "reranker.model=some/model", "reranker.depth=7"])
    assert config.first_stage.hits == 50 and config.reranker.model == "some/model" and config.reranker.depth == 7
    with pytest.raises(InputError, match="use section.key=value"):
        load_pipeline_config(path, ["hits=5"])
    with pytest.raises(InputError, match="unknown section 'rerankr'"):
        load_pipeline_config(path, ["rerankr.depth=5"])
    with pytest.raises(InputError, match="'output.run' is required"):
        load_pipeline_config(write(tmp_path, f"index: {{path: {tmp_path}}}\ntopics: {{beir: {scifact}}}\n", "x.yaml"))


def test_a_reranker_section_without_a_model_is_an_error_not_a_bm25_run(tmp_path, scifact):
    for extra in ("reranker: {depth: 5}\n", "reranker:\n"):
        with pytest.raises(InputError, match="'reranker.model' is required"):
            load_pipeline_config(write(tmp_path, base(scifact) + extra))
    with pytest.raises(InputError, match="'reranker.model' is required"):
        load_pipeline_config(write(tmp_path, base(scifact)), ["reranker.depth=50"])


LINES = """\
collection: {beir: %(beir)s}
index:
  path: idx
  build: never
topics: {split: test}
reranker:
  model: m
  depth: 20
output: {run: out/run.trec}
evaluation:
  metrics:
    - nDCG@10
    - R@100
"""


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("depth: 20", "depth: many", "p.yaml:8: 'reranker.depth' = 'many': Input should be a valid integer"),
        (
            "depth: 20",
            "depth: '20'",
            "p.yaml:8: 'reranker.depth' = '20': Input should be a valid integer",
        ),  # no coercion
        (
            "depth: 20",
            "dept: 20",
            "p.yaml:8: unknown key 'reranker.dept'; allowed: model, depth, batch_size, token_budget, "
            "max_length, device, dtype",
        ),
        (
            "build: never",
            "build: sometimes",
            "p.yaml:4: 'index.build' = 'sometimes': Input should be 'auto', 'always' or 'never'",
        ),
        ("    - R@100", "    - 100", "p.yaml:13: 'evaluation.metrics[1]' = 100: Input should be a valid string"),
        ("    - R@100", "    - Bogus@3", "p.yaml:13: 'evaluation.metrics[1]' = 'Bogus@3': unknown metric 'Bogus@3'"),
        (
            "  model: m",
            "  model: m\n  dtype: nn",
            "p.yaml:8: 'reranker.dtype' = 'nn': Input should be 'auto', 'float32', 'fp32'",
        ),
        ("  model: m", "  model: m\n  device: gpu0", "p.yaml:8: 'reranker.device'='gpu0' is not a valid device"),
        ("  model: m", "  batch_size: true", "p.yaml:7: 'reranker.batch_size' = True: Input should be a valid integer"),
        ("  model: m\n", "", "p.yaml:6: 'reranker.model' is required"),
        (
            "topics: {split: test}",
            "topics: {split: test, max_queries: 0}",
            "p.yaml:5: 'topics.max_queries' = 0: Input should be greater than or equal to 1",
        ),
        (
            "output: {run: out/run.trec}",
            "output: {run: out/run.trec}\nextra: 1",
            "p.yaml:10: unknown section 'extra'; allowed: collection, index, topics, first_stage, reranker, output, "
            "evaluation",
        ),
        (
            "output: {run: out/run.trec}",
            "output: [out/run.trec]",
            "p.yaml:9: 'output' = ['out/run.trec']: Input should be a valid dictionary",
        ),
    ],
)
def test_yaml_errors_name_the_line_and_the_key(tmp_path, scifact, old, new, message):
    text = LINES % {"beir": scifact}
    assert old in text
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, text.replace(old, new, 1)))
    assert str(error.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message in str(error.value).replace(str(tmp_path) + "/", "")
    assert "\n" not in str(error.value)


def test_the_first_problem_in_the_file_is_reported_and_set_overrides_are_named(tmp_path, scifact):
    text = (LINES % {"beir": scifact}).replace("build: never", "build: sometimes").replace("depth: 20", "depth: x")
    with pytest.raises(InputError, match=r"p.yaml:4: 'index.build'"):
        load_pipeline_config(write(tmp_path, text))
    path = write(tmp_path, LINES % {"beir": scifact})
    with pytest.raises(InputError, match=r"^--set reranker.depth=many: 'reranker.depth' = 'many': Input should be"):
        load_pipeline_config(path, ["reranker.depth=many"])


def test_every_section_key_is_a_model_field(tmp_path, scifact):
    """The YAML keys are the sections' fields: a file that gives every one of them (defaults, plus the required
    values) loads into the same models."""
    data = {name: cls().model_dump() for name, cls in SECTIONS.items()}
    data["collection"]["beir"] = str(scifact)
    data["index"].update(path="idx", build="never")
    data["output"]["run"] = "r.trec"
    data["reranker"]["model"] = "m"
    config = load_pipeline_config(write(tmp_path, yaml.safe_dump(data)))
    assert config.reranker.model_dump() == {**RerankerOptions().model_dump(), "model": "m"}
    assert config.first_stage == FirstStage() and config.reranker.depth == 20 and config.first_stage.hits == 100


def test_yaml_alias_bomb_is_refused_at_once_in_the_file_and_in_set(tmp_path, scifact):
    import time

    levels = "".join(f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    text = (LINES % {"beir": scifact}) + f"bomb:\n  - &l0 [lol]\n{levels}"
    start = time.monotonic()
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, text))
    assert time.monotonic() - start < 2
    line = text.splitlines().index("  - &l1 [" + ", ".join(["*l0"] * 9) + "]") + 1
    assert str(error.value) == f"{tmp_path / 'p.yaml'}:{line}: YAML alias *l0 is not allowed in a pipeline config; " + (
        "write the value out"
    )
    alias = r"^--set 'reranker.depth=\[&a \[1, 1\], \*a\]': YAML alias \*a is not allowed"
    with pytest.raises(InputError, match=alias):
        load_pipeline_config(write(tmp_path, LINES % {"beir": scifact}), ["reranker.depth=[&a [1, 1], *a]"])


def test_a_huge_wrong_value_is_named_in_a_short_message(tmp_path, scifact):
    text = (LINES % {"beir": scifact}).replace("  depth: 20", "  depth: [" + ", ".join(["1"] * 10**4) + "]")
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, text))
    assert "'reranker.depth' = [1, 1, 1, 1, ...]" in str(error.value) and len(str(error.value)) < 300


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize("shape", ["[%s]", "{a: %s}", "\n  - %s"])
def test_yaml_nested_deep_is_refused_at_once(tmp_path, scifact, depth, shape):
    """A RecursionError traceback at 1,000 levels, and 92 s of scanning first at 100,000, before."""
    import time

    from pyserini_qpeft.cli.yaml_input import MAX_DEPTH

    value = "1"
    if shape.startswith("\n"):  # block sequences: "- - - ... 1" on one line
        value = "\n  " + "- " * depth + "1"
    else:
        opening, closing = shape.split("%s")
        value = opening * depth + "1" + closing * depth
    start = time.monotonic()
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, f"collection: {value}\n" + base(scifact).split("\n", 2)[2]))
    assert time.monotonic() - start < 2
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'p.yaml'}:") and f"nested more than {MAX_DEPTH} deep" in message
    assert len(message) < 300


def test_set_nested_100k_deep_is_refused_at_once(tmp_path, scifact):
    import time

    start = time.monotonic()
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, base(scifact)), ["first_stage.hits=" + "[" * 100_000 + "]" * 100_000])
    assert time.monotonic() - start < 2
    message = str(error.value)
    assert message.startswith("--set 'first_stage.hits=[[[[") and "nested more than 50 deep" in message


def test_nesting_up_to_the_limit_still_reads():
    from pyserini_qpeft.cli.yaml_input import MAX_DEPTH, load_yaml

    expected = 1
    for _ in range(MAX_DEPTH - 1):  # the mapping is the first level
        expected = [expected]
    assert load_yaml("a: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1), "x")[0] == {"a": expected}


def test_two_reranker_sections_are_refused_naming_both_lines(tmp_path, scifact):
    """PyYAML keeps the last of repeated keys: the first section's depth and max_length were silently lost."""
    text = base(scifact) + "reranker: {model: m, depth: 5, max_length: 128}\nreranker:\n  model: m\n"
    with pytest.raises(InputError) as error:
        load_pipeline_config(write(tmp_path, text))
    lines = text.splitlines()
    first, second = (i + 1 for i, line in enumerate(lines) if line.startswith("reranker:"))
    said = f"{tmp_path / 'p.yaml'}:{second}: key 'reranker' is given twice (lines {first} and {second})"
    assert str(error.value) == f"{said}; give each key once"


def test_a_key_repeated_inside_a_section_or_in_set_is_refused(tmp_path, scifact):
    text = base(scifact) + "reranker:\n  model: m\n  depth: 5\n  depth: 50\n"
    with pytest.raises(InputError, match=r"p.yaml:\d+: key 'depth' is given twice \(lines \d+ and \d+\)"):
        load_pipeline_config(write(tmp_path, text))
    with pytest.raises(InputError, match=r"^--set 'reranker.model=\{a: 1, a: 2\}': key 'a' is given twice"):
        load_pipeline_config(write(tmp_path, base(scifact)), ["reranker.model={a: 1, a: 2}"])


@pytest.mark.parametrize("metrics", ["[]", "['']", "[',,,']"])
def test_an_empty_metric_list_is_refused(tmp_path, scifact, metrics):
    with pytest.raises(InputError, match=r"p.yaml:\d+: 'evaluation.metrics"):
        load_pipeline_config(write(tmp_path, base(scifact) + f"evaluation: {{metrics: {metrics}}}\n"))


@pytest.mark.parametrize("weight", [".nan", ".inf", "-.inf"])
def test_a_fusion_weight_that_is_not_a_number_says_what_is_wanted(tmp_path, scifact, weight):
    with pytest.raises(InputError, match=r"'reranker.fusion_weight' = (nan|inf|-inf): Input should be a number from 0"):
        load_pipeline_config(write(tmp_path, base(scifact) + f"reranker: {{model: m, fusion_weight: {weight}}}\n"))


def test_deep_nesting_is_refused_quickly_without_libyaml_too(monkeypatch):
    """The pure-Python scanner (PyYAML without libyaml) stops at the limit as well."""
    import time

    from pyserini_qpeft.cli import yaml_input

    monkeypatch.setattr(yaml_input, "_Base", yaml.SafeLoader)
    start = time.monotonic()
    with pytest.raises(InputError, match=r"^deep.yaml:1: lists and mappings nested more than 50 deep"):
        yaml_input.check_events("a: " + "[" * 100_000 + "]" * 100_000, "deep.yaml")
    assert time.monotonic() - start < 10
