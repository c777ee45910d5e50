"""Causal-LM families: on a tiny random-weight model of each family, every variant trains a real step (the LM
untouched), saves and loads back to the same scores, and scores documents in a batch as it scores each alone.
A family that cannot work fails when the model is built, in one line naming it."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.errors import QPEFTError
from pyserini_qpeft.model.config import QPEFTConfig, TrainingConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.training.data import TrainingQuery
from pyserini_qpeft.training.loop import Trainer

from _tiny_models import FAMILY_CONFIGS, tiny_family, tiny_tokenizer

VARIANTS = ["zeroshot", "prompt", "r", "a"]
QUERY = "Does aspirin lower the risk of heart attack?"
DOCS = [  # lengths differ, so the batch is left-padded; the last is cut to fit max_length
    "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "Vitamin D.",
    "Smoking raises the risk of lung cancer, chronic obstructive pulmonary disease and stroke, and exercise "
    "improves insulin sensitivity and lowers blood pressure in patients with metabolic syndrome.",
    " ".join(["Inflammation of the arteries drives atherosclerosis; statins reduce cholesterol."] * 8),
]
TEXTS = {
    "p1": "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "p2": "Vitamin D deficiency is common among older people.",
    "p3": "Radiation therapy changes gene expression in tumour cells.",
    "n1": "The committee met on Tuesday to discuss the budget.",
    "n2": "Rainfall in the region doubled over the last decade.",
}
TRAIN = [
    TrainingQuery("q1", "aspirin heart attack risk", ["p1"], ["n1", "n2"]),
    TrainingQuery("q2", "vitamin d in older people", ["p2"], ["n2", "n1"]),
]
DEV = [TrainingQuery("q3", "radiation and gene expression", ["p3"], ["n1"])]
QRELS = {q.qid: {p: 1 for p in q.positives} for q in TRAIN + DEV}


@pytest.fixture(scope="module", params=list(FAMILY_CONFIGS))
def family(request, tmp_path_factory):
    """(model type, tiny LM, folder the LM and tokenizer were saved to): built and saved once per family."""
    tokenizer = tiny_tokenizer()
    lm = tiny_family(request.param, len(tokenizer))
    folder = tmp_path_factory.mktemp(request.param)
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return request.param, lm, folder


def perturb(model: QPEFTModel) -> None:
    """Move the trainable parts off their initialisation, as training would (the query table: some rows)."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in model.trainable_parameters().items():
            if name == "hint_module.query_table.weight":
                param[100:300] += 0.05 * torch.randn(200, param.shape[1], generator=generator)
            else:
                param += 0.05 * torch.randn(param.shape, generator=generator)


def snapshot(named) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in named.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_family_trains_saves_loads_and_scores_a_batch_as_each_pair_alone(family, variant, tmp_path):
    model_type, lm, folder = family
    config = QPEFTConfig(
        base_model=str(folder),
        variant=variant,
        num_virtual_tokens=3,
        num_hints=3,
        max_length=96,
        filter_stopwords=False,
    )
    model = QPEFTModel(lm, tiny_tokenizer(), config)
    perturb(model)
    lm_before = snapshot(lm.state_dict())
    if variant != "zeroshot":  # one optimizer step of the package's own trainer
        before = snapshot(model.trainable_parameters())
        training = TrainingConfig(epochs=1, batch_size=2, negatives=1, in_batch=1, dev_negatives=1, patience=1)
        Trainer(model, training, TRAIN, DEV, QRELS, TEXTS.__getitem__, tmp_path / "trained").fit()
        after = snapshot(model.trainable_parameters())
        assert [n for n in before if torch.equal(before[n], after[n])] == [], f"{model_type}: parts that did not train"
    assert all(torch.equal(lm_before[k], v) for k, v in lm.state_dict().items()), f"{model_type}: the LM moved"

    reranker = QPEFTReranker(model)
    saved = reranker.score(QUERY, DOCS)
    reranker.save_pretrained(str(tmp_path / "ckpt"))
    loaded = QPEFTReranker.from_pretrained(
        str(tmp_path / "ckpt"), base_model=str(folder), device="cpu", dtype="float32"
    )
    assert loaded.model.lm.config.model_type == model_type and loaded.config.variant == variant
    parts, loaded_parts = snapshot(model.trainable_parameters()), snapshot(loaded.model.trainable_parameters())
    assert parts.keys() == loaded_parts.keys() and all(torch.equal(parts[k], loaded_parts[k]) for k in parts)
    assert loaded.score(QUERY, DOCS) == saved  # the same weights, bit for bit
    alone = [loaded.score(QUERY, [doc])[0] for doc in DOCS]
    assert alone == pytest.approx(saved, abs=1e-5)
    assert len(set(saved)) == len(DOCS)  # real, distinct scores, not a constant


def tiny_bart(tokenizer):
    config = AutoConfig.for_model(
        "bart", vocab_size=len(tokenizer), d_model=32, decoder_layers=2, decoder_attention_heads=4,
        decoder_ffn_dim=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64,
        max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return AutoModelForCausalLM.from_config(config).eval()


def tiny_bert(tokenizer):
    config = AutoConfig.for_model(
        "bert", vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=256, pad_token_id=0,
    )  # fmt: skip
    return AutoModelForCausalLM.from_config(config).eval()  # is_decoder stays False: it attends both ways


@pytest.mark.parametrize(
    "build, variant, missing",
    [
        (tiny_bart, "zeroshot", "'bart' (BartForCausalLM) cannot be used as a Q-PEFT reranker: its forward ignores "
         "position_ids"),
        (tiny_bert, "a", "'bert' (BertLMHeadModel) cannot be used as a Q-PEFT reranker: it attends both ways "
         "(config.is_decoder is False)"),
    ],
)  # fmt: skip
def test_a_family_that_cannot_work_fails_at_load_in_one_line(build, variant, missing, tmp_path):
    tokenizer = tiny_tokenizer()
    lm = build(tokenizer)
    if variant == "zeroshot":  # through the public loader: a bare LM folder
        lm.save_pretrained(tmp_path)
        tokenizer.save_pretrained(tmp_path)
        with pytest.raises(QPEFTError) as caught:
            QPEFTReranker.from_pretrained(str(tmp_path), device="cpu", dtype="float32")
    else:
        with pytest.raises(QPEFTError) as caught:
            QPEFTModel(lm, tokenizer, QPEFTConfig(base_model="tiny", variant=variant, filter_stopwords=False))
    message = str(caught.value)
    assert "\n" not in message and f"model type {missing}" in message, message
