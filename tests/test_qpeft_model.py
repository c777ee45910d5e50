import pytest
import torch

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.model.checkpoint import load_checkpoint
from pyserini_qpeft.model.config import CONFIG_NAME, QPEFTConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import collate

from _tiny_models import tiny_llama, tiny_tokenizer

QUERIES = ["Does aspirin prevent heart attacks?", "vitamin d and older people"]
DOCS = [
    "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "Vitamin D deficiency is common among older people living in northern countries.",
    "Radiation therapy changes gene expression in tumour cells, as measured by sequencing.",
]
VARIANTS = ["zeroshot", "prompt", "r", "a"]


def build(variant, seed=0, **overrides):
    tokenizer = tiny_tokenizer()
    lm = tiny_llama(len(tokenizer), seed=seed)
    torch.manual_seed(seed + 1)
    config = QPEFTConfig(
        base_model="tiny",
        variant=variant,
        num_virtual_tokens=4,
        num_hints=3,
        max_length=96,
        filter_stopwords=False,
        **overrides,
    )
    model = QPEFTModel(lm, tokenizer, config)
    if model.hint_module is not None:  # leave the zero init so the MLP does something measurable
        torch.nn.init.normal_(model.hint_module.mlp.net[2].weight, std=0.05)
        with torch.no_grad():  # as if training had moved some rows of the query table
            model.hint_module.query_table.weight[100:400] += 0.01 * torch.randn(
                300, model.hint_module.query_table.embedding_dim
            )
    return model


def naive_log_likelihood(model, pair):
    """One pair, no padding: embeddings assembled by hand, full logits."""
    ids = torch.tensor(pair.context + pair.target[:-1])
    embeds = model.lm.get_input_embeddings()(ids).clone()
    if model.prompt is not None:
        embeds[: pair.prompt_slots] = model.prompt(torch.arange(pair.prompt_slots))
    if model.hint_module is not None and pair.hint_slots:
        embeds[pair.hint_at : pair.hint_at + pair.hint_slots] = model.hint_vectors([pair])[0]
    logits = model.lm(inputs_embeds=embeds.unsqueeze(0)).logits[0]
    log_probs = torch.log_softmax(logits, -1)[-len(pair.target) :]
    return log_probs.gather(-1, torch.tensor(pair.target).unsqueeze(-1)).mean().item()


def all_pairs():
    return [q for q in QUERIES for _ in DOCS], DOCS * len(QUERIES)


@pytest.mark.parametrize("variant", VARIANTS)
def test_batched_scores_equal_hand_built_single_pairs(variant):
    model = build(variant)
    queries, docs = all_pairs()
    pairs = model.prepare(queries, docs)
    with torch.no_grad():
        batched = model.log_likelihood(collate(pairs, model.encoder.pad_id, "cpu")).tolist()
        naive = [naive_log_likelihood(model, p) for p in pairs]
    assert batched == pytest.approx(naive, abs=1e-4)


def test_layouts_of_the_variants():
    tokenizer = tiny_tokenizer()
    for variant, has_prompt, has_hints in [
        ("zeroshot", 0, False),
        ("prompt", 4, False),
        ("r", 4, True),
        ("a", 4, True),
    ]:
        model = build(variant)
        pair = model.prepare([QUERIES[0]], [DOCS[0]])[0]
        assert pair.prompt_slots == has_prompt
        text = tokenizer.decode(pair.context[pair.prompt_slots :])
        assert text.startswith("Passage: Aspirin") and text.endswith("Question:")
        assert ("\nHints:" in text) == has_hints
        if variant == "r":
            assert 0 < pair.hint_slots <= 3 and pair.hint_tokens
            assert all(t in pair.doc_ids and t not in pair.query_ids for t in pair.hint_tokens)
        if variant == "a":
            assert pair.hint_slots == len(pair.query_ids)


@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_gradients_reach_exactly_the_trainable_parts_and_the_lm_never_changes(variant):
    model = build(variant)
    trainable = model.trainable_parameters()
    assert trainable and all(p.requires_grad for p in trainable.values())
    lm_before = {k: v.clone() for k, v in model.lm.state_dict().items()}
    tuned_before = {k: v.detach().clone() for k, v in trainable.items()}
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-2)
    queries, docs = all_pairs()
    loss = -model.log_likelihood(collate(model.prepare(queries, docs), model.encoder.pad_id, "cpu")).mean()
    loss.backward()
    assert all(p.grad is None for p in model.lm.parameters())
    with_grad = {k for k, p in trainable.items() if p.grad is not None and p.grad.abs().sum() > 0}
    expected = set(trainable)
    if variant == "a":
        assert with_grad == expected
    else:
        assert "prompt.embedding.weight" in with_grad
        if variant == "r":  # table rows of chosen tokens and the MLP
            assert {
                "hint_module.query_table.weight",
                "hint_module.mlp.net.0.weight",
                "hint_module.mlp.net.2.weight",
            } <= with_grad
    optimizer.step()
    assert all(torch.equal(lm_before[k], v) for k, v in model.lm.state_dict().items())
    assert any(not torch.equal(tuned_before[k], v) for k, v in trainable.items())


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_load_round_trip_is_bit_for_bit(variant, tmp_path):
    model = build(variant)
    reranker = QPEFTReranker(model)
    before = reranker.score(QUERIES[0], DOCS)
    reranker.save_pretrained(str(tmp_path / "ckpt"))
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert CONFIG_NAME in files
    assert ("adapter_model.safetensors" in files) == (variant != "zeroshot")
    assert ("hint_module.safetensors" in files) == (variant in ("r", "a"))
    assert sum(p.stat().st_size for p in (tmp_path / "ckpt").iterdir()) < 200_000  # no LM, only changed table rows
    lm = tiny_llama(len(tiny_tokenizer()), seed=0)
    loaded = QPEFTReranker(load_checkpoint(tmp_path / "ckpt", lm, tiny_tokenizer()))
    assert loaded.score(QUERIES[0], DOCS) == before
    assert loaded.config.variant == variant


def test_max_length_beyond_the_lms_positions_is_cut_in_the_config_it_keeps_and_saves(tmp_path):
    from pyserini_qpeft.model.checkpoint import save_checkpoint

    tokenizer = tiny_tokenizer()
    asked = QPEFTConfig(variant="prompt", num_virtual_tokens=2, max_length=200)
    model = QPEFTModel(tiny_llama(len(tokenizer), max_positions=64), tokenizer, asked)
    assert model.config.max_length == model.encoder.max_length == 64
    assert asked.max_length == 200  # the caller's config is not changed
    save_checkpoint(model, tmp_path / "ckpt")
    assert QPEFTConfig.load(tmp_path / "ckpt").max_length == 64
