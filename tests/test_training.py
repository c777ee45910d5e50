import json

import pytest
import torch

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.checkpoint import load_checkpoint
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.training.data import TrainingQuery, sample_step, split_dev
from pyserini_qpeft.training.loop import Trainer, TrainingConfig

from _tiny_models import tiny_llama, tiny_tokenizer

TEXTS = {
    "p1": "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "p2": "Vitamin D deficiency is common among older people.",
    "p3": "Radiation therapy changes gene expression in tumour cells.",
    "p4": "Exercise improves insulin sensitivity in obese adults.",
    "n1": "The committee met on Tuesday to discuss the budget.",
    "n2": "Rainfall in the region doubled over the last decade.",
    "n3": "The bridge was painted red in the spring.",
    "n4": "A new library opened downtown last year.",
}
QUERIES = [
    TrainingQuery("q1", "aspirin heart attack risk", ["p1"], ["n1", "n2", "n3"]),
    TrainingQuery("q2", "vitamin d in older people", ["p2"], ["n2", "n3", "n4"]),
    TrainingQuery("q3", "radiation and gene expression", ["p3"], ["n1", "n3", "n4"]),
    TrainingQuery("q4", "exercise and insulin", ["p4"], ["n1", "n2", "n4"]),
]
QRELS = {q.qid: {p: 1 for p in q.positives} for q in QUERIES}


def make_trainer(tmp_path, variant="prompt", epochs=2, name="out", device="cpu", **overrides):
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = QPEFTModel(
        tiny_llama(len(tokenizer), seed=0),
        tokenizer,
        QPEFTConfig(
            base_model="tiny", variant=variant, num_virtual_tokens=3, num_hints=3, max_length=64, filter_stopwords=False
        ),
    ).to(device)
    config = TrainingConfig(epochs=epochs, batch_size=2, negatives=2, in_batch=1, save_every=1, patience=5, **overrides)
    return Trainer(model, config, QUERIES, QUERIES[:2], QRELS, TEXTS.__getitem__, tmp_path / name)


def params(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.trainable_parameters().items()}


@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_training_lowers_the_loss_and_saves_the_best_checkpoint(tmp_path, variant):
    trainer = make_trainer(tmp_path, variant, epochs=6, lr=5e-2, hint_lr=1e-2)
    lm_before = {k: v.clone() for k, v in trainer.model.lm.state_dict().items()}
    state = trainer.fit()
    losses = [h["dev_loss"] for h in state["history"]]
    assert min(losses[1:]) < losses[0] - 1e-3, losses
    assert state["best_dev"] == pytest.approx(min(losses))
    assert all(torch.equal(lm_before[k], v) for k, v in trainer.model.lm.state_dict().items())
    assert not (tmp_path / "out").exists()  # the caller publishes the best model when the run is done
    best = load_checkpoint(trainer.best_dir, trainer.model.lm, trainer.model.tokenizer)
    trainer.model = best
    assert trainer.dev_loss() == pytest.approx(state["best_dev"], abs=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_training_on_cuda_follows_the_cpu(tmp_path, variant):
    """The same steps on CUDA (fp32; hints by the torch backend there) give the CPU's losses and weights."""
    found = {}
    for device in ("cpu", "cuda"):
        trainer = make_trainer(tmp_path, variant, epochs=2, name=device, device=device, lr=5e-2, hint_lr=1e-2)
        history = trainer.fit()["history"]
        assert trainer.model.device.type == device
        found[device] = [h["dev_loss"] for h in history], {k: v.float().cpu() for k, v in params(trainer).items()}
    assert found["cuda"][0] == pytest.approx(found["cpu"][0], abs=1e-3)
    for name, value in found["cpu"][1].items():
        assert torch.allclose(found["cuda"][1][name], value, atol=1e-3), name


@pytest.mark.parametrize("variant", ["prompt", "r"])
def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, variant):
    straight = make_trainer(tmp_path, variant, name="straight")
    straight.fit()
    expected = params(straight)

    interrupted = make_trainer(tmp_path, variant, name="resumed")
    seen = []

    def stop_in_second_epoch(step, loss):
        seen.append((interrupted.state["epoch"], step))
        if interrupted.state["epoch"] == 1 and step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(on_step=stop_in_second_epoch)
    if variant == "r":  # the query table's moments are stored as the rows the queries touched
        folder = tmp_path / "resumed.train-state"
        generation = json.loads((folder / "trainer_state.json").read_text())["generation"]
        moments = torch.load(folder / generation / "optimizer.pt", weights_only=True)["state"].values()
        table = [m["exp_avg"] for m in moments if m["exp_avg"].is_sparse and m["exp_avg"].shape[0] > 100]
        assert len(table) == 1 and 0 < table[0]._nnz() < table[0].shape[0] / 10
    resumed = make_trainer(tmp_path, variant, name="resumed")
    assert resumed.resume()
    assert (resumed.state["epoch"], resumed.state["step"]) == (1, 1)
    before = resumed.state["train_seconds"]  # the interrupted run's time, kept in the state
    assert before > 0
    resumed.fit()
    got = params(resumed)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    saved = json.loads((tmp_path / "resumed.train-state" / "trainer_state.json").read_text())
    assert saved["epoch"] == 2 and [h["epoch"] for h in saved["history"]] == [0, 1, 2]
    losses = ("dev_loss", "train_loss")  # the running training loss is saved with the state, not restarted
    assert [[h.get(k) for k in losses] for h in saved["history"]] == [
        [h.get(k) for k in losses] for h in straight.state["history"]
    ]
    clock = [h["train_seconds"] for h in saved["history"][1:]]
    assert before <= clock[-1] == saved["train_seconds"] and clock == sorted(clock)


def test_resume_refuses_other_settings(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1)
    trainer.fit()
    other = make_trainer(tmp_path, epochs=1, margin=0.9)
    with pytest.raises(InputError, match="different training settings"):
        other.resume()


def test_a_training_state_that_calls_the_hint_learning_rate_qd_lr_resumes(tmp_path):
    """Earlier versions saved ``hint_lr`` as ``qd_lr``; their interrupted runs still resume."""
    make_trainer(tmp_path, epochs=1).fit()
    path = tmp_path / "out.train-state" / "trainer_state.json"
    saved = json.loads(path.read_text())
    saved["training_config"]["qd_lr"] = saved["training_config"].pop("hint_lr")
    path.write_text(json.dumps(saved))
    assert make_trainer(tmp_path, epochs=1).resume()
    with pytest.raises(InputError, match="different training settings"):
        make_trainer(tmp_path, epochs=1, hint_lr=0.5).resume()


def test_step_sampling_uses_hard_and_in_batch_negatives():
    import random

    steps = sample_step(QUERIES[:3], QRELS, negatives=2, in_batch=2, rng=random.Random(1))
    for step, query in zip(steps, QUERIES[:3]):
        assert step.docids[0] in query.positives
        assert len(step.docids) == 1 + 2 + 2
        assert set(step.docids[1:3]) <= set(query.negatives)
        assert set(step.docids[3:]) <= {"p1", "p2", "p3"} - set(query.positives)


def test_dev_split_and_config_errors():
    train, dev = split_dev(QUERIES, 0.25, seed=3)
    assert len(dev) == 1 and len(train) == 3 and not set(q.qid for q in dev) & set(q.qid for q in train)
    with pytest.raises(InputError, match="--dev-fraction"):
        split_dev(QUERIES, 1.5, seed=3)
    with pytest.raises(InputError, match="--batch-size must be at least 1"):
        TrainingConfig(batch_size=0)
    with pytest.raises(InputError, match="both 0"):
        TrainingConfig(negatives=0, in_batch=0)


def test_zeroshot_has_nothing_to_train(tmp_path):
    with pytest.raises(InputError, match="nothing to train"):
        make_trainer(tmp_path, variant="zeroshot")
