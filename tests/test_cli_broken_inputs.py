"""The command line over a table of broken inputs: exit 1 (or 2 for usage), one line on stderr, no traceback,
no new files, and the user's files untouched."""

import errno
import json
import os
from contextlib import nullcontext
from pathlib import Path

import pytest

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.files import atomic

from _tiny_models import tiny_gguf
from conftest import search_scifact

USER_TEXT = "the user's own notes\n"


def _state(path: Path):
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_dir():
        return None
    info = path.stat()
    return path.read_bytes() if info.st_size < 2**20 else ("large", info.st_size, info.st_mtime_ns)


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root`` with its bytes (None for folders; a link's target, a large file's size
    and time, so that a 30 GB sparse file or a link to /dev/zero is not read)."""
    return {str(p.relative_to(root)): _state(p) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_model_dir):
    """A Q-PEFT-R checkpoint on the tiny model (its files are copied and broken by the cases)."""
    from pyserini_qpeft import QPEFTReranker
    from pyserini_qpeft.model.config import QPEFTConfig
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu")
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="r", num_hints=3, max_length=128, num_virtual_tokens=2)
    folder = tmp_path_factory.mktemp("ckpt") / "r"
    QPEFTReranker.from_lm(lm, tokenizer, config).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def bm25_run(tmp_path_factory, scifact, scifact_index):
    path = tmp_path_factory.mktemp("bm25") / "bm25.trec"
    return search_scifact(path, scifact, scifact_index, "--max-queries", "2", "--hits", "3")


def copy_tree(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for item in src.iterdir():
        (dst / item.name).write_bytes(item.read_bytes())
    return dst


# Each case: name -> function(tmp_path, ctx) returning (argv, expected exit code).
def _rerank(ctx, *extra, output=None, model=None, run=None, max_length="128"):
    argv = [
        "rerank",
        "--run",
        str(run or ctx["run"]),
        "--index",
        str(ctx["index"]),
        "--beir",
        str(ctx["beir"]),
        "--split",
        "test",
        "--model",
        str(model or ctx["model"]),
        "--max-length",
        max_length,
        "--output",
        str(output or ctx["tmp"] / "out.trec"),
        *extra,
    ]
    return argv if max_length else argv[: -4 - len(extra)] + argv[-2 - len(extra) :]


def case_output_is_a_folder(tmp, ctx):
    (tmp / "folder").mkdir()
    return _rerank(ctx, output=tmp / "folder"), 1


def case_output_is_a_user_file(tmp, ctx):
    (tmp / "notes.txt").write_text(USER_TEXT)
    return _rerank(ctx, output=tmp / "notes.txt"), 1


def case_output_parent_is_a_file(tmp, ctx):
    (tmp / "afile").write_text(USER_TEXT)
    return _rerank(ctx, output=tmp / "afile" / "run.trec"), 1


def case_journal_name_taken_by_a_user_file(tmp, ctx):
    (tmp / "out.trec.journal").write_text(USER_TEXT)
    return _rerank(ctx), 1


def case_truncated_checkpoint_weights(tmp, ctx):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    weights = ckpt / "hint_module.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return _rerank(ctx, model=ckpt), 1


def case_garbage_checkpoint_weights(tmp, ctx):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    (ckpt / "adapter_model.safetensors").write_bytes(b"\x00garbage, not safetensors" * 10)
    return _rerank(ctx, model=ckpt), 1


def _config_field(tmp, ctx, key, value):
    return _config_fields(tmp, ctx, **{key: value})


def _config_fields(tmp, ctx, **values):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    data = json.loads((ckpt / "qpeft_config.json").read_text())
    data.update(values)
    (ckpt / "qpeft_config.json").write_text(json.dumps(data))
    return _rerank(ctx, model=ckpt, max_length=None), 1  # the checkpoint's own max_length


def case_checkpoint_int_field_is_a_string(tmp, ctx):
    return _config_field(tmp, ctx, "num_hints", "ten")


def case_checkpoint_bool_field_is_a_string(tmp, ctx):
    return _config_field(tmp, ctx, "filter_stopwords", "no")


def case_model_folder_with_only_pytorch_model_bin(tmp, ctx):
    folder = tmp / "binmodel"
    folder.mkdir()
    for item in Path(ctx["model"]).iterdir():
        if not item.name.endswith(".safetensors"):
            (folder / item.name).write_bytes(item.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    return _rerank(ctx, model=folder), 1


def case_device_gpu0(tmp, ctx):
    return _rerank(ctx, "--device", "gpu0"), 1


def case_dtype_not_a_dtype(tmp, ctx):
    return _rerank(ctx, "--dtype", "nn"), 2


def case_depth_zero(tmp, ctx):
    return _rerank(ctx, "--depth", "0"), 1


def case_run_lists_a_document_twice(tmp, ctx):
    run = tmp / "dup.trec"
    lines = Path(ctx["run"]).read_text().splitlines(keepends=True)
    run.write_text("".join(lines + [lines[0]]))
    return _rerank(ctx, run=run), 1


def case_topics_repeat_a_query_id(tmp, ctx):
    topics = tmp / "topics.tsv"
    topics.write_text("q1\tfirst query\nq2\tsecond\nq1\tagain\n")
    return [
        "search",
        "--index",
        str(ctx["index"]),
        "--topics",
        str(topics),
        "--hits",
        "3",
        "--output",
        str(tmp / "run.trec"),
    ], 1


def case_resume_other_depth(tmp, ctx):
    from pyserini_qpeft.runs.journal import MAGIC

    (tmp / "out.trec.journal").write_text(MAGIC + json.dumps({"tag": "qpeft", "depth": 99}) + "\n")
    return _rerank(ctx, "--resume"), 1


def case_index_overwrite_a_user_folder(tmp, ctx):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.tex").write_text(USER_TEXT)
    (tmp / "mine" / "segments_1").write_text("not lucene")
    return ["index", "--beir", str(ctx["beir"]), "--index", str(tmp / "mine"), "--overwrite"], 1


def _train_overwrite(ctx, output):
    paths = ["--beir", str(ctx["beir"]), "--index", str(ctx["index"]), "--model", str(ctx["model"])]
    return ["train", *paths, "--output", str(output), "--overwrite"]


def case_train_overwrite_a_user_folder(tmp, ctx):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.tex").write_text(USER_TEXT)
    return _train_overwrite(ctx, tmp / "mine"), 1


def case_train_state_name_taken_by_a_user_folder(tmp, ctx):
    (tmp / "ckpt.train-state").mkdir()
    (tmp / "ckpt.train-state" / "data.csv").write_text(USER_TEXT)
    return _train_overwrite(ctx, tmp / "ckpt"), 1


def _pipeline(tmp, ctx, reranker):
    config = tmp / "p.yaml"
    config.write_text(
        f"collection: {{beir: {ctx['beir']}}}\nindex: {{path: {ctx['index']}, build: never}}\n"
        f"topics: {{split: test, max_queries: 2}}\nfirst_stage: {{hits: 3}}\n{reranker}"
        "output: {run: out/run.trec}\n"
    )
    return ["pipeline", str(config)], 1


def case_pipeline_reranker_without_model(tmp, ctx):
    return _pipeline(tmp, ctx, "reranker: {depth: 3}\n")


def case_pipeline_dtype_not_a_dtype(tmp, ctx):
    return _pipeline(tmp, ctx, f"reranker: {{model: {ctx['model']}, dtype: nn}}\n")


def case_pipeline_device_gpu0(tmp, ctx):
    return _pipeline(tmp, ctx, f"reranker: {{model: {ctx['model']}, device: gpu0}}\n")


def case_pipeline_depth_not_a_number(tmp, ctx):
    return _pipeline(tmp, ctx, f"reranker: {{model: {ctx['model']}, depth: many}}\n")


def case_search_max_queries_zero(tmp, ctx):
    return [
        "search",
        "--index",
        str(ctx["index"]),
        "--beir",
        str(ctx["beir"]),
        "--max-queries",
        "0",
        "--output",
        str(tmp / "run.trec"),
    ], 1


def case_train_hint_backend_not_a_backend(tmp, ctx):
    return [
        "train",
        "--beir",
        str(ctx["beir"]),
        "--index",
        str(ctx["index"]),
        "--model",
        str(ctx["model"]),
        "--output",
        str(tmp / "ckpt"),
        "--hint-backend",
        "gpu",
    ], 2


def case_evaluate_binary_garbage(tmp, ctx):
    garbage = tmp / "garbage"
    garbage.write_bytes(b"\xff\xfe\x00binary\x00junk\n")
    return ["evaluate", "--run", str(garbage), "--qrels", str(garbage)], 1


# -- round two: the input run as output, NaN scores, crafted checkpoints, an alias bomb, an unknown model id ----
def case_output_is_the_input_run(tmp, ctx):
    run = tmp / "same.trec"
    run.write_bytes(Path(ctx["run"]).read_bytes())
    return _rerank(ctx, run=run, output=run), 1


def case_output_is_an_empty_user_file(tmp, ctx):
    (tmp / "notes.txt").write_text("")
    return _rerank(ctx, output=tmp / "notes.txt"), 1


def _run_with_score(tmp, ctx, score):
    run = tmp / "scores.trec"
    lines = Path(ctx["run"]).read_text().splitlines(keepends=True)
    fields = lines[1].split()
    lines[1] = " ".join(fields[:4] + [score, fields[5]]) + "\n"
    run.write_text("".join(lines))
    return _rerank(ctx, run=run), 1


def case_run_has_a_nan_score(tmp, ctx):
    return _run_with_score(tmp, ctx, "nan")


def case_run_has_an_infinite_score(tmp, ctx):
    return _run_with_score(tmp, ctx, "-inf")


def case_checkpoint_num_virtual_tokens_10_to_the_12(tmp, ctx):
    return _config_field(tmp, ctx, "num_virtual_tokens", 10**12)


def case_checkpoint_num_virtual_tokens_500000_beyond_its_weights(tmp, ctx):
    return _config_fields(tmp, ctx, num_virtual_tokens=500_000, max_length=10**6)


def case_checkpoint_num_hints_beyond_the_lm_positions(tmp, ctx):
    return _config_fields(tmp, ctx, num_hints=10**9, max_length=2 * 10**9)


def case_checkpoint_mlp_hidden_beyond_its_weights(tmp, ctx):
    return _config_field(tmp, ctx, "mlp_hidden", 10**9)


def case_checkpoint_weights_30gb_sparse_file(tmp, ctx):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    os.truncate(ckpt / "hint_module.safetensors", 30 * 2**30)
    return _rerank(ctx, model=ckpt), 1


def case_checkpoint_weights_symlink_to_dev_zero(tmp, ctx):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    (ckpt / "hint_module.safetensors").unlink()
    (ckpt / "hint_module.safetensors").symlink_to("/dev/zero")
    return _rerank(ctx, model=ckpt), 1


def case_pipeline_yaml_alias_bomb(tmp, ctx):
    bomb = "".join(f"  - &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    return _pipeline(tmp, ctx, f"bomb:\n  - &l0 [lol]\n{bomb}reranker: {{model: {ctx['model']}, depth: *l9}}\n")


def case_unknown_model_id_without_network(tmp, ctx):
    return _rerank(ctx, model="some-org/not-local"), 1


def case_max_length_8(tmp, ctx):
    return _rerank(ctx, "--max-length", "8"), 1


def case_batch_size_zero(tmp, ctx):
    return _rerank(ctx, "--batch-size", "0"), 1


def case_fusion_weight_2(tmp, ctx):
    return _rerank(ctx, "--fusion-weight", "2"), 1


# -- round three: lines without a newline, cutoffs and judgments, deep nesting, repeated keys, damaged GGUF ----
def _sparse(path: Path, size: int = 3 * 2**30) -> Path:
    """A 3 GB file of zero bytes with no newline (sparse: no disk space)."""
    path.write_bytes(b"")
    os.truncate(path, size)
    return path


def case_run_3gb_without_a_newline(tmp, ctx):
    return _rerank(ctx, run=_sparse(tmp / "s.trec")), 1


def case_qrels_3gb_without_a_newline(tmp, ctx):
    return ["evaluate", "--run", str(ctx["run"]), "--qrels", str(_sparse(tmp / "s.qrels"))], 1


def case_topics_3gb_without_a_newline(tmp, ctx):
    topics = _sparse(tmp / "s.tsv")
    return ["search", "--index", str(ctx["index"]), "--topics", str(topics), "--output", str(tmp / "run.trec")], 1


def case_corpus_3gb_without_a_newline(tmp, ctx):
    beir = tmp / "beir"
    beir.mkdir()
    (beir / "queries.jsonl").write_text('{"_id": "1", "text": "a query"}\n')
    _sparse(beir / "corpus.jsonl")
    return ["index", "--beir", str(beir), "--index", str(tmp / "idx")], 1


def _evaluate(ctx, *extra, qrels=None):
    qrels = qrels or Path(ctx["beir"]) / "qrels" / "test.tsv"
    return ["evaluate", "--run", str(ctx["run"]), "--qrels", str(qrels), *extra], 1


def case_evaluate_ndcg_at_0(tmp, ctx):
    return _evaluate(ctx, "--metrics", "nDCG@0")  # pytrec_eval aborted the process (SIGABRT)


def case_evaluate_map_at_0(tmp, ctx):
    return _evaluate(ctx, "--metrics", "map@0")


def case_evaluate_mrr_at_0(tmp, ctx):
    return _evaluate(ctx, "--metrics", "MRR@0")  # printed 0.0000


def case_evaluate_cutoff_10_to_the_20(tmp, ctx):
    return _evaluate(ctx, "--metrics", "nDCG@99999999999999999999")  # printed 0.0000


def case_evaluate_metrics_only_commas(tmp, ctx):
    return _evaluate(ctx, "--metrics", ",,,")


def _qrels_with(tmp, ctx, *grades):
    """TREC qrels judging the run's first document of its first query with each of ``grades`` in turn."""
    qid, _, docid = Path(ctx["run"]).read_text().split()[:3]
    path = tmp / "qrels.txt"
    path.write_text("".join(f"{qid} 0 {docid} {grade}\n" for grade in grades))
    return _evaluate(ctx, qrels=path)


def case_qrels_grade_inf(tmp, ctx):
    return _qrels_with(tmp, ctx, "inf")


def case_qrels_grade_1e400(tmp, ctx):
    return _qrels_with(tmp, ctx, "1e400")


def case_qrels_grade_10_to_the_20(tmp, ctx):
    return _qrels_with(tmp, ctx, "99999999999999999999")


def case_qrels_judge_a_pair_twice_with_other_grades(tmp, ctx):
    return _qrels_with(tmp, ctx, "1", "2")


def _pipeline_text(tmp, ctx, text, *extra):
    config = tmp / "p.yaml"
    config.write_text(text)
    return ["pipeline", str(config), *extra], 1


def case_pipeline_yaml_nested_1000_deep(tmp, ctx):
    return _pipeline_text(tmp, ctx, "collection: " + "[" * 1000 + "]" * 1000 + "\n")


def case_pipeline_yaml_nested_100k_deep(tmp, ctx):
    return _pipeline_text(tmp, ctx, "collection: " + "[" * 100_000 + "]" * 100_000 + "\n")


def case_pipeline_set_nested_100k_deep(tmp, ctx):
    argv, code = _pipeline(tmp, ctx, "")
    return [*argv, "--set", "first_stage.hits=" + "[" * 100_000 + "]" * 100_000], code


def case_pipeline_two_reranker_sections(tmp, ctx):
    model = ctx["model"]
    return _pipeline(
        tmp, ctx, f"reranker: {{model: {model}, depth: 2, max_length: 64}}\nreranker: {{model: {model}}}\n"
    )


def case_pipeline_repeated_key_in_a_section(tmp, ctx):
    return _pipeline(tmp, ctx, f"reranker:\n  model: {ctx['model']}\n  depth: 2\n  depth: 3\n")


def case_checkpoint_config_nested_100k_deep(tmp, ctx):
    ckpt = copy_tree(ctx["checkpoint"], tmp / "ckpt")
    (ckpt / "qpeft_config.json").write_text("[" * 100_000 + "]" * 100_000)
    return _rerank(ctx, model=ckpt), 1


def case_model_config_json_nested_100k_deep(tmp, ctx):
    folder = copy_tree(Path(ctx["model"]), tmp / "lm")
    (folder / "config.json").write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return _rerank(ctx, model=folder), 1


def case_gguf_cut_short(tmp, ctx):
    whole = tiny_gguf(tmp / "whole.gguf").read_bytes()
    (tmp / "whole.gguf").unlink()
    (tmp / "cut.gguf").write_bytes(whole[: len(whole) // 2])
    return _rerank(ctx, model=tmp / "cut.gguf"), 1


def case_gguf_empty_file(tmp, ctx):
    (tmp / "empty.gguf").write_bytes(b"")
    return _rerank(ctx, model=tmp / "empty.gguf"), 1


def case_gguf_magic_then_garbage(tmp, ctx):
    (tmp / "garbage.gguf").write_bytes(b"GGUF\x03" + os.urandom(64))
    return _rerank(ctx, model=tmp / "garbage.gguf"), 1


def case_fusion_weight_nan(tmp, ctx):
    return _rerank(ctx, "--fusion-weight", "nan"), 1


CASES = {name[len("case_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}

# What the one line must say, for the cases whose message was chosen with them.
SAYS = {
    "output_is_the_input_run": "same.trec: is the input --run",
    "output_is_an_empty_user_file": "notes.txt: exists and is not a TREC run file",
    "run_has_a_nan_score": "scores.trec:2: score 'nan' must be a finite number",
    "run_has_an_infinite_score": "scores.trec:2: score '-inf' must be a finite number",
    "checkpoint_num_virtual_tokens_10_to_the_12": "num_virtual_tokens=1000000000000 is invalid: the soft",
    "checkpoint_num_virtual_tokens_500000_beyond_its_weights": "holds prompt_embeddings of shape (2, 32)",
    "checkpoint_num_hints_beyond_the_lm_positions": "1000000000 is invalid: the hints must fit in max_length=256",
    "checkpoint_mlp_hidden_beyond_its_weights": "mlp.net.0.bias has shape (32,), but qpeft_config.json's sizes",
    "checkpoint_weights_30gb_sparse_file": "hint_module.safetensors: 32212254720 bytes, but qpeft_config.json records",
    "checkpoint_weights_symlink_to_dev_zero": "hint_module.safetensors: not a regular file",
    "pipeline_yaml_alias_bomb": "p.yaml:7: YAML alias *l0 is not allowed in a pipeline config",
    "unknown_model_id_without_network": "cannot load model 'some-org/not-local'",
    "max_length_8": "--max-length: Input should be greater than or equal to 16, got 8",
    "batch_size_zero": "--batch-size: Input should be greater than or equal to 1, got 0",
    "fusion_weight_2": "--fusion-weight: Input should be less than or equal to 1, got 2.0",
    "run_3gb_without_a_newline": "s.trec:1: line longer than 1 MiB",
    "qrels_3gb_without_a_newline": "s.qrels:1: line longer than 1 MiB",
    "topics_3gb_without_a_newline": "s.tsv:1: line longer than 1 MiB",
    "corpus_3gb_without_a_newline": "corpus.jsonl:1: line longer than 64 MiB",
    "evaluate_ndcg_at_0": "--metrics: 'nDCG@0': the cutoff must be from 1 to 100000",
    "evaluate_map_at_0": "--metrics: 'map@0': the cutoff must be from 1 to 100000",
    "evaluate_mrr_at_0": "--metrics: 'MRR@0': the cutoff must be from 1 to 100000",
    "evaluate_cutoff_10_to_the_20": "the cutoff must be from 1 to 100000 (one deeper than the run is fine",
    "evaluate_metrics_only_commas": "--metrics: ',,,' names no metric",
    "qrels_grade_inf": "qrels.txt:1: relevance 'inf' must be an integer grade",
    "qrels_grade_1e400": "qrels.txt:1: relevance '1e400' must be an integer grade",
    "qrels_grade_10_to_the_20": "qrels.txt:1: relevance '99999999999999999999' is out of range",
    "qrels_judge_a_pair_twice_with_other_grades": "qrels.txt:2: document",
    "pipeline_yaml_nested_1000_deep": "p.yaml:1: lists and mappings nested more than 50 deep",
    "pipeline_yaml_nested_100k_deep": "p.yaml:1: lists and mappings nested more than 50 deep",
    "pipeline_set_nested_100k_deep": "lists and mappings nested more than 50 deep",
    "pipeline_two_reranker_sections": "p.yaml:6: key 'reranker' is given twice (lines 5 and 6); give each key once",
    "pipeline_repeated_key_in_a_section": "p.yaml:8: key 'depth' is given twice (lines 7 and 8)",
    "checkpoint_config_nested_100k_deep": "qpeft_config.json: JSON lists and objects nested thousands deep",
    "model_config_json_nested_100k_deep": "config.json: JSON lists and objects nested thousands deep",
    "gguf_cut_short": "cut.gguf: a damaged or cut-short GGUF model",
    "gguf_empty_file": "empty.gguf: an empty file, not a GGUF model",
    "gguf_magic_then_garbage": "garbage.gguf: a damaged or cut-short GGUF model",
    "fusion_weight_nan": "--fusion-weight: Input should be a number from 0 to 1 (the first stage's share), got nan",
}


@pytest.fixture
def ctx(tmp_path, scifact, scifact_index, tiny_model_dir, tiny_checkpoint, bm25_run):
    work = tmp_path / "work"
    work.mkdir()
    return {
        "tmp": work,
        "beir": scifact,
        "index": scifact_index,
        "model": tiny_model_dir,
        "checkpoint": tiny_checkpoint,
        "run": bm25_run,
    }


@pytest.mark.parametrize("case", list(CASES))
def test_cli_broken_input(case, ctx, capsys):
    argv, expected = CASES[case](ctx["tmp"], ctx)
    before = snapshot(ctx["tmp"])
    capsys.readouterr()
    with pytest.raises(SystemExit) if expected == 2 else nullcontext() as exit_info:
        code = main(["-q", *argv])
    if expected == 2:
        code = exit_info.value.code
    err = capsys.readouterr().err
    assert code == expected, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert SAYS.get(case, "") in err, err
    assert snapshot(ctx["tmp"]) == before, "files were created, changed or deleted"


def search_argv(ctx, out) -> list:
    """BM25 for 2 scifact test queries, 3 hits each, into ``out``."""
    paths = ["--index", str(ctx["index"]), "--beir", str(ctx["beir"]), "--output", str(out)]
    return ["-q", "search", *paths, *"--split test --max-queries 2 --hits 3".split()]


def _simulated_os_error(number, message):
    def fail(*args, **kwargs):
        raise OSError(number, message, kwargs.get("dir") or (args[0] if args else None))

    return fail


@pytest.mark.parametrize(
    "number, message",
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
    ],
)
def test_cli_disk_errors_are_one_line_and_leave_nothing(number, message, ctx, capsys, monkeypatch):
    """A full disk, a read-only file system or a forbidden folder, met when the run file is written."""
    out = ctx["tmp"] / "sub" / "run.trec"
    monkeypatch.setattr(atomic.tempfile, "mkstemp", _simulated_os_error(number, message))
    before = snapshot(ctx["tmp"])
    code = main(search_argv(ctx, out))
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert snapshot(ctx["tmp"]) == before


def test_cli_full_disk_while_writing_leaves_no_partial_file(ctx, capsys, monkeypatch):
    out = ctx["tmp"] / "run.trec"
    monkeypatch.setattr(atomic.os, "fsync", _simulated_os_error(errno.ENOSPC, "No space left on device"))
    code = main(search_argv(ctx, out))
    assert code == 1 and "No space left on device" in capsys.readouterr().err
    assert os.listdir(ctx["tmp"]) == []


def test_cli_full_disk_names_the_file(ctx, capsys, monkeypatch):
    """fsync and write raise ENOSPC without a file name; the one line names the run being written."""
    out = ctx["tmp"] / "run.trec"

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    code = main(search_argv(ctx, out))
    err = capsys.readouterr().err
    assert code == 1 and err == f"pyserini-qpeft search: error: No space left on device: {out}\n", err
    assert os.listdir(ctx["tmp"]) == []


def test_cli_output_in_a_missing_folder_is_created(ctx, bm25_run):
    out = ctx["tmp"] / "new" / "deeper" / "run.trec"
    assert main(["-q", *_rerank(ctx, "--depth", "2", output=out)]) == 0
    assert out.is_file() and not any(p.name.endswith(".journal") for p in out.parent.iterdir())


def test_outputs_honour_the_umask_and_keep_an_existing_mode(ctx):
    out = ctx["tmp"] / "run.trec"
    argv = search_argv(ctx, out)
    old = os.umask(0o022)
    try:
        assert main(argv) == 0
        assert out.stat().st_mode & 0o777 == 0o644
        out.chmod(0o664)
        assert main(argv) == 0
        assert out.stat().st_mode & 0o777 == 0o664
        os.umask(0o027)
        with atomic.atomic_write(ctx["tmp"] / "new" / "x.txt") as handle:
            handle.write("x")
        assert (ctx["tmp"] / "new" / "x.txt").stat().st_mode & 0o777 == 0o640
        with atomic.atomic_directory(ctx["tmp"] / "folder") as folder:
            (folder / "f").write_text("x")
        assert (ctx["tmp"] / "folder").stat().st_mode & 0o777 == 0o750
    finally:
        os.umask(old)
    assert not [p for p in ctx["tmp"].rglob(".*") if p.name.endswith(".tmp")]  # no temporaries left behind


def test_cli_rerank_of_a_reversed_rank_column_follows_the_scores(ctx, caplog):
    """The rank column reversed: the same run as the original file (trec_eval's order, as evaluate reads it), and
    one warning, where the depth cut used to take the hits the rank column put first."""
    lines = Path(ctx["run"]).read_text().splitlines()
    reversed_run = ctx["tmp"] / "reversed.trec"
    by_query: dict[str, list[list[str]]] = {}
    for line in lines:
        by_query.setdefault(line.split()[0], []).append(line.split())
    reversed_run.write_text(
        "".join(
            " ".join([*f[:3], str(len(rows) - int(f[3]) + 1), *f[4:]]) + "\n"
            for rows in by_query.values()
            for f in rows
        )
    )
    outputs = []
    for name, run in (("plain", ctx["run"]), ("reversed", reversed_run)):
        out = ctx["tmp"] / f"{name}-out.trec"
        assert main(["-q", *_rerank(ctx, "--depth", "1", run=run, output=out)]) == 0
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    [warning] = [r.getMessage() for r in caplog.records if "rank column disagrees" in r.getMessage()]
    assert warning.startswith(f"{reversed_run}: the rank column disagrees with the scores (query ")
