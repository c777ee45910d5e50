"""``pyserini-qpeft train`` in-process, on a tiny random model saved to a folder and the scifact index."""

import json

import pytest

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.cli.main import main



def train_args(scifact, index, model, output, *extra):
    return ["-q", "train", "--beir", str(scifact), "--index", str(index), "--model", str(model), "--output", str(output),
            "--max-queries", "6", "--epochs", "1", "--max-length", "160", "--batch-size", "2", "--negatives", "1",
            "--in-batch", "1", "--num-virtual-tokens", "2", "--k", "3", *extra]


@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_train_writes_a_loadable_checkpoint(tmp_path, scifact, scifact_index, tiny_model_dir, variant):
    output = tmp_path / "ckpt"
    assert main(train_args(scifact, scifact_index, tiny_model_dir, output, "--variant", variant)) == 0
    summary = json.loads((output / "training_summary.json").read_text())
    assert summary["variant"] == variant and summary["train_queries"] + summary["dev_queries"] == 6
    assert [h["epoch"] for h in summary["history"]] == [0, 1]
    reranker = QPEFTReranker.from_pretrained(str(output), device="cpu")
    assert reranker.config.variant == variant and reranker.config.base_model == str(tiny_model_dir)
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
