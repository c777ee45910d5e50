"""Presets (checkpoints addressed by name, resolved offline) and the model card save_pretrained writes."""

import json
import logging

import pytest

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.model import presets
from pyserini_qpeft.model.card import MARKER
from pyserini_qpeft.model.config import QPEFTConfig


@pytest.fixture(scope="module")
def tiny_prompt_reranker(tiny_model_dir):
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu")
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="prompt", max_length=128, fusion_weight=0.25)
    return QPEFTReranker.from_lm(lm, tokenizer, config)


def test_a_preset_name_resolves_to_its_folder_and_loads(tmp_path, monkeypatch, tiny_prompt_reranker):
    root = tmp_path / "presets"
    tiny_prompt_reranker.save_pretrained(str(root / "tiny-science"))
    (root / "not-a-preset").mkdir()
    monkeypatch.setattr(presets, "PRESET_ROOT", root)
    assert presets.available() == {"tiny-science": root / "tiny-science"}
    assert presets.resolve("tiny-science") == root / "tiny-science"
    assert presets.resolve("not-a-preset") is None and presets.resolve("org/model") is None
    loaded = QPEFTReranker.from_pretrained("tiny-science")
    assert loaded.config.variant == "prompt" and loaded.fusion() == 0.25
    docs = ["Aspirin lowers the risk of heart attack.", "Rivers flow to the sea."]
    assert loaded.score("aspirin", docs) == pytest.approx(tiny_prompt_reranker.score("aspirin", docs))


def test_a_local_folder_wins_over_a_preset_of_the_same_name_and_says_so(
    tmp_path, monkeypatch, caplog, tiny_prompt_reranker
):
    root = tmp_path / "presets"
    tiny_prompt_reranker.save_pretrained(str(root / "same"))
    monkeypatch.setattr(presets, "PRESET_ROOT", root)
    local = tmp_path / "work" / "same"
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")
    with caplog.at_level(logging.WARNING, logger="pyserini_qpeft.model.presets"):
        assert presets.resolve("same") is None
    assert [r.getMessage() for r in caplog.records] == [
        f"same: loading the local folder {local.resolve()}, not the preset of that name"
    ]


def test_every_shipped_preset_is_a_checkpoint_with_a_model_card():
    for name, folder in presets.available().items():
        assert (folder / "README.md").read_text(encoding="utf-8").startswith(MARKER), name
        QPEFTConfig.load(folder)


def test_save_pretrained_writes_a_model_card_and_never_replaces_a_users_readme(tmp_path, tiny_prompt_reranker):
    folder = tmp_path / "ckpt"
    tiny_prompt_reranker.save_pretrained(str(folder), model_card="## Results\n\n| nDCG@10 | 0.7 |")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith(MARKER) and "`prompt`" in card and "0.25" in card and "## Results" in card
    (folder / "training_summary.json").write_text(
        json.dumps(
            {"train_queries": 320, "dev_queries": 80, "best_dev_loss": 2.520047, "training_config": {"lr": 0.03}}
        )
    )
    tiny_prompt_reranker.save_pretrained(str(folder))  # ours: replaced, now with the training recipe
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "320 training queries, 80 dev queries" in card and '"lr": 0.03' in card and "best 2.5200)" in card
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("# my project\n")
    tiny_prompt_reranker.save_pretrained(str(mine))
    assert (mine / "README.md").read_text() == "# my project\n"
