"""``pyserini-qpeft train`` in-process, on a tiny random model saved to a folder and the scifact index."""

import json
import os

import pytest

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.cli.common import options_from_args
from pyserini_qpeft.cli.main import build_parser, main
from pyserini_qpeft.cli.pipeline_file import RerankerOptions
from pyserini_qpeft.cli.train import TRAIN_MODEL
from pyserini_qpeft.model.config import QPEFTConfig, TrainingConfig
from pyserini_qpeft.model.loading import auto_dtype, dtype_name

from _cli import flag_actions


def train_args(scifact, index, model, output, *extra):
    return [
        "-q",
        "train",
        "--beir",
        str(scifact),
        "--index",
        str(index),
        "--model",
        str(model),
        "--output",
        str(output),
        "--max-queries",
        "6",
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
        "--k",
        "3",
        *extra,
    ]


@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_train_writes_a_loadable_checkpoint(tmp_path, scifact, scifact_index, tiny_model_dir, variant):
    output = tmp_path / "ckpt"
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", variant)) == 0
    summary = json.loads((output / "training_summary.json").read_text())
    assert summary["variant"] == variant and summary["train_queries"] + summary["dev_queries"] == 6
    assert [h["epoch"] for h in summary["history"]] == [0, 1]
    assert summary["dtype"] == dtype_name(auto_dtype("cpu")[0])  # --dtype auto, recorded
    assert f" in {summary['dtype']} on cpu." in (output / "README.md").read_text()  # and on the model card
    reranker = QPEFTReranker.from_pretrained(str(output), device="cpu")
    assert reranker.config.variant == variant and reranker.config.base_model == str(tiny_model_dir)
    assert reranker.config.num_hints == 3 and json.loads((output / "qpeft_config.json").read_text())["num_hints"] == 3
    scores = reranker.score("cancer and microRNA", ["microRNA levels in tumours", "bridges and rivers"])
    assert len(scores) == 2 and all(s < 0 for s in scores)


def test_train_refuses_to_clobber_and_resume_needs_state(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    output = tmp_path / "ckpt"
    output.mkdir()
    (output / "qpeft_config.json").write_text("{}")  # a checkpoint already there
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output)) == 1
    assert "--resume" in capsys.readouterr().err
    assert main(train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "new", "--resume")) == 1
    assert "no training state to resume" in capsys.readouterr().err
    assert main(train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "x", "--epochs", "0")) == 1
    assert "--epochs must be at least 1" in capsys.readouterr().err


def test_train_overwrite_replaces_only_its_own_checkpoint_and_state(tmp_path, scifact, scifact_index, tiny_model_dir):
    output = tmp_path / "ckpt"
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt")) == 0
    (output / "NOTES.md").write_text("my notes")  # a user's file beside the checkpoint
    state = tmp_path / "ckpt.train-state"
    assert state.is_dir()
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "r", "--overwrite")) == 0
    assert (output / "NOTES.md").read_text() == "my notes"
    assert QPEFTReranker.from_pretrained(str(output), device="cpu").config.variant == "r"


def test_train_into_an_empty_folder(tmp_path, scifact, scifact_index, tiny_model_dir):
    output = tmp_path / "ckpt"
    output.mkdir()
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt")) == 0
    assert (output / "qpeft_config.json").is_file()


def test_every_train_flag_default_is_the_model_default():
    """Walk the parser: each flag made from a QPEFTConfig/TrainingConfig/RerankerOptions field has that field's
    default (train's own variant default excepted) and its help; every documented field has a flag."""
    actions = flag_actions("train")
    own = {name: change["default"] for name, change in TRAIN_MODEL.items()}
    assert own == {"variant": "r"}
    checked = set()
    for cls, names in ((QPEFTConfig, None), (TrainingConfig, None), (RerankerOptions, ("device", "dtype"))):
        for name, info in cls.model_fields.items():
            if not info.description or (names and name not in names):
                continue
            assert actions[name].default == own.get(name, info.default), name
            assert actions[name].help.startswith(info.description), name
            checked.add(name)
    documented = {
        name for cls in (QPEFTConfig, TrainingConfig) for name, i in cls.model_fields.items() if i.description
    }
    assert documented <= checked and {"device", "dtype"} <= checked
    assert "dev_negatives" not in actions  # not a flag today; resume compares the whole TrainingConfig
    assert actions["filter_stopwords"].option_strings == ["--keep-stopwords"]
    assert actions["attention_heads"].option_strings == ["--heads"]
    assert actions["base_model"].option_strings == ["--model"]
    assert actions["variant"].choices == ["prompt", "r", "a"]
    assert actions["hint_backend"].choices == ["auto", "faiss", "torch"]


@pytest.mark.parametrize(
    "flag, field",
    [("--num-hints", "num_hints"), ("--k", "num_hints"), ("--hint-lr", "hint_lr"), ("--qd-lr", "hint_lr")],
)
def test_renamed_flags_keep_their_old_spellings(flag, field):
    args = build_parser().parse_args(
        ["train", "--beir", "b", "--index", "i", "--output", "o", flag, "7", "--keep-stopwords", "--seed", "5"]
    )
    config = options_from_args(QPEFTConfig, args)
    training = options_from_args(TrainingConfig, args)
    assert {**config.model_dump(), **training.model_dump()}[field] == 7
    assert config.filter_stopwords is False and config.filter_nonalpha is True
    assert config.variant == "r" and training.seed == 5 and training.epochs == 3


def test_train_flags_are_validated_by_the_configs(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    assert main(train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "x", "--num-hints", "0")) == 1
    assert "QPEFTConfig.num_hints=0 is invalid: use at least 1 hint token" in capsys.readouterr().err
    assert main(train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "x", "--max-queries", "1")) == 1
    assert "--max-queries must be at least 2, got 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_train_from_a_first_stage_run_matches_training_on_the_index(tmp_path, scifact, scifact_index, tiny_model_dir):
    """--first-stage-run (BM25 run + corpus texts, no Java) gives the same negatives, texts and checkpoint."""
    run = tmp_path / "bm25-train.trec"
    search = ["-q", "search", "--index", str(scifact_index), "--beir", str(scifact), "--split", "train"]
    assert main([*search, "--max-queries", "6", "--hits", "30", "--output", str(run)]) == 0
    on_index = train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "index-ckpt", "--variant", "r")
    from_run = train_args(scifact, scifact_index, tiny_model_dir, tmp_path / "run-ckpt", "--variant", "r")
    from_run[from_run.index("--index") : from_run.index("--index") + 2] = ["--first-stage-run", str(run)]
    assert main(on_index) == 0 and main(from_run) == 0
    for name in ("adapter_model.safetensors", "hint_module.safetensors", "qpeft_config.json"):
        assert (tmp_path / "run-ckpt" / name).read_bytes() == (tmp_path / "index-ckpt" / name).read_bytes(), name
    summaries = [json.loads((tmp_path / d / "training_summary.json").read_text()) for d in ("index-ckpt", "run-ckpt")]
    losses = [[(h["dev_loss"], h.get("train_loss")) for h in summary["history"]] for summary in summaries]
    assert losses[0] == losses[1] and summaries[0]["fusion"] == summaries[1]["fusion"]
    assert summaries[1]["first_stage"] == {"run": str(run)} and summaries[0]["device"] == "cpu"


def test_train_first_stage_run_must_cover_the_training_queries(tmp_path, scifact, tiny_model_dir, capsys):
    from _cli import assert_one_line_error, cli

    run = tmp_path / "one-query.trec"
    run.write_text("nosuchquery Q0 4983 1 1.0 bm25\n")
    args = train_args(scifact, "unused", tiny_model_dir, tmp_path / "ckpt")
    args[args.index("--index") : args.index("--index") + 2] = ["--first-stage-run", str(run)]
    code, _, err = cli(capsys, *args)
    assert_one_line_error(code, err, "train", str(run), "no hits for query", "search --split")
    with pytest.raises(SystemExit) as exited:  # not both
        main([*args, "--index", "x"])
    assert exited.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists()


def test_max_train_queries_keeps_the_dev_queries(tmp_path, scifact, scifact_index, tiny_model_dir, capsys):
    """A learning curve's points share their dev queries: --max-train-queries cuts only the training side."""
    from pyserini_qpeft.lucene.index import open_searcher
    from pyserini_qpeft.training.queries import QuerySelection, choose_training_queries

    searcher = open_searcher(str(scifact_index))
    selection = QuerySelection(beir=str(scifact), max_queries=10, negative_depth=5, dev_fraction=0.3)
    full_train, full_dev, _ = choose_training_queries(selection, searcher)
    cut_train, cut_dev, _ = choose_training_queries(selection.model_copy(update={"max_train_queries": 2}), searcher)
    assert [q.qid for q in cut_dev] == [q.qid for q in full_dev]
    assert [q.qid for q in cut_train] == [q.qid for q in full_train[:2]] and len(full_train) == 7
    output = tmp_path / "ckpt"
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--max-train-queries", "99")) == 1
    assert "--max-train-queries 99: only" in capsys.readouterr().err and not output.exists()


def test_train_resume_with_other_queries_is_refused_naming_the_setting(
    tmp_path, scifact, scifact_index, tiny_model_dir, capsys
):
    output = tmp_path / "ckpt"
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt")) == 0
    capsys.readouterr()
    other = train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt", "--resume")
    other[other.index("--max-queries") + 1] = "9"
    assert main(other) == 1
    err = capsys.readouterr().err
    assert "different training settings: max_queries (saved 6, now 9)" in err and "Traceback" not in err


def test_a_second_train_on_one_output_is_refused_and_a_dead_holders_lock_is_taken_over(
    tmp_path, scifact, scifact_index, tiny_model_dir, capsys
):
    import subprocess
    import sys

    output = tmp_path / "ckpt"
    holder = subprocess.Popen(  # another process training into the same output (it holds the output's lock)
        [
            sys.executable,
            "-c",
            "import sys, time; from pyserini_qpeft.files.lock import output_lock\n"
            f"with output_lock({str(output)!r}):\n    print('held', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt")) == 1
        err = capsys.readouterr().err
        assert f"pid {holder.pid} is writing it" in err and not output.exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt")) == 0
    assert (output / "qpeft_config.json").is_file()


def test_qrels_naming_a_document_outside_the_corpus_fail_before_the_model_loads(
    tmp_path, scifact, scifact_index, make_beir, scifact_corpus, capsys
):
    queries = [{"_id": q, "text": t} for q, t in (("q1", "microRNA and cancer"), ("q2", "bridges"), ("q3", "vitamin"))]
    docids = list(scifact_corpus)[:3]
    qrels = {"train": {"q1": {docids[0]: 1}, "q2": {"NOT_A_DOC_1": 1}, "q3": {docids[2]: 1}}}
    beir = make_beir([scifact_corpus[d] for d in docids], queries, qrels)
    output = tmp_path / "ckpt"
    # The model named does not exist: the qrels are checked before any model is loaded.
    args = train_args(beir, scifact_index, tmp_path / "no-model-here", output, "--variant", "prompt")
    args[args.index("--max-queries") + 1] = "3"
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "train.tsv:3: query 'q2' judges document 'NOT_A_DOC_1'" in err and "Traceback" not in err
    assert not output.exists() and not (tmp_path / "ckpt.train-state").exists()


def test_a_killed_train_leaves_no_checkpoint_that_loads_and_resumes(tmp_path, scifact, scifact_index, tiny_model_dir):
    import subprocess
    import sys

    output = tmp_path / "ckpt"
    args = train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", "prompt", "--save-every", "1")
    # A real process (the JVM does not survive a fork), killed without cleanup as it publishes the checkpoint.
    script = (
        "import os, sys\nfrom pyserini_qpeft.files.atomic import set_io_hook\n"
        "from pyserini_qpeft.cli.main import main\n"
        "set_io_hook(lambda event, path: event == 'rename' and path.name == 'ckpt' and os._exit(17))\n"
        "main(sys.argv[1:])"
    )
    assert (
        subprocess.run([sys.executable, "-c", script, *args], env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
        == 17
    )
    assert not output.exists()  # trained, fusion weight picked, not yet published: nothing loadable at --output
    assert main(args) == 1  # the state is there: --resume or --overwrite
    assert main([*args, "--resume"]) == 0
    assert QPEFTReranker.from_pretrained(str(output), device="cpu").config.variant == "prompt"
