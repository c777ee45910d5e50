"""The variant registry, the HintModule interface, and hint modules that follow the LM across devices and dtypes."""

import copy
import dataclasses
import subprocess
import sys
import types

import pytest
import torch

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.hint_selection import HINT_BACKENDS, FaissGpuResources, select_faiss, select_torch
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import QueryLikelihoodScorer
from pyserini_qpeft.model.variants import VARIANTS, get_variant, hint_module_class, trainable_variants
from pyserini_qpeft.model.variants.base import HintModule, PairHints, special_token_mask

from _tiny_models import tiny_llama, tiny_tokenizer

QUERIES = ["Does aspirin prevent heart attacks?", "vitamin d and older people"]
DOCS = [
    "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "Vitamin D deficiency is common among older people living in northern countries.",
    "Radiation therapy changes gene expression in tumour cells, as measured by sequencing.",
]
WITH_HINTS = [name for name, spec in VARIANTS.items() if spec.uses_hints]
# Parameter names of the committed checkpoints (benchmarks/results/scifact_quality/checkpoints): never rename.
MLP = {"mlp.net.0.weight", "mlp.net.0.bias", "mlp.net.2.weight", "mlp.net.2.bias"}
STATE_KEYS = {
    "r": {"query_table.weight"} | MLP,
    "a": {"query_table.weight"}
    | MLP
    | {"attention.in_proj_weight", "attention.in_proj_bias", "attention.out_proj.weight", "attention.out_proj.bias"},
}


def trained(variant, dtype=torch.float32):
    """A model on the tiny Llama whose trainable parts moved as if trained (some query-table rows, all else)."""
    tokenizer = tiny_tokenizer()
    lm = tiny_llama(len(tokenizer), seed=0).to(dtype)
    torch.manual_seed(1)
    config = QPEFTConfig(
        base_model="tiny", variant=variant, num_virtual_tokens=4, max_length=96, filter_stopwords=False
    )
    model = QPEFTModel(lm, tokenizer, config)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in model.trainable_parameters().items():
            if name == "hint_module.query_table.weight":
                param[100:400] += 0.05 * torch.randn(300, param.shape[1], generator=generator).to(param.dtype)
            else:
                param += 0.05 * torch.randn(param.shape, generator=generator).to(param.dtype)
    return model


def scores(model):
    queries = [q for q in QUERIES for _ in DOCS]
    return QueryLikelihoodScorer(model).score_pairs(queries, DOCS * len(QUERIES))


def snapshot(model):
    """Every parameter and buffer (persistent or not) of the model, LM included."""
    return {name: t.detach().clone() for name, t in [*model.named_parameters(), *model.named_buffers()]}


def restore(model, saved):
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            t.copy_(saved[name])


# -- the registry ----------------------------------------------------------------------------------------
def test_registry_and_hint_selection_import_without_torch():
    code = (
        "import sys, pyserini_qpeft.model.variants, pyserini_qpeft.model.hint_selection; "
        "sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert HINT_BACKENDS == ("auto", "faiss", "torch")


def test_registry_names_the_four_variants_and_what_they_use():
    assert list(VARIANTS) == ["zeroshot", "prompt", "r", "a"]
    assert [(s.uses_prompt, s.uses_hints) for s in VARIANTS.values()] == [
        (False, False),
        (True, False),
        (True, True),
        (True, True),
    ]
    assert trainable_variants() == ["prompt", "r", "a"]
    assert all(spec.name == name and spec.description for name, spec in VARIANTS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        VARIANTS["r"].uses_prompt = False


def test_unknown_variant_is_an_input_error_listing_the_names():
    with pytest.raises(InputError, match=r"unknown variant 'b'; use one of zeroshot, prompt, r, a"):
        get_variant("b")
    with pytest.raises(InputError, match="has no hint module"):
        hint_module_class(get_variant("prompt"))


@pytest.mark.parametrize("variant", WITH_HINTS)
def test_every_registered_hint_module_implements_the_interface(variant):
    cls = hint_module_class(get_variant(variant))
    assert issubclass(cls, HintModule)
    model = trained(variant)
    hint_module = model.hint_module
    assert type(hint_module) is cls and set(hint_module.state_dict()) == STATE_KEYS[variant]
    lm_embedding = model.lm.get_input_embeddings()
    assert all(module is not lm_embedding for module in hint_module.modules())  # referenced, never registered
    assert all(p is not lm_embedding.weight for p in hint_module.parameters())
    assert hint_module.frozen.data_ptr() == lm_embedding.weight.data_ptr()
    q_ids = model.encoder.query_ids(QUERIES[0])
    docs = model.encoder.document_ids(DOCS)
    prepared = hint_module.prepare(q_ids, docs)
    assert len(prepared) == len(docs) and all(isinstance(h, PairHints) for h in prepared)
    assert all(h.slots <= hint_module.reserve(q_ids) and len(h.tokens) <= h.slots for h in prepared)
    pairs = model.prepare([QUERIES[0]] * len(DOCS), DOCS)
    assert [(p.hint_slots, p.hint_tokens) for p in pairs] == [(h.slots, h.tokens) for h in prepared]
    vectors = hint_module.hint_vectors(pairs)
    dim = lm_embedding.weight.shape[1]
    assert [tuple(v.shape) for v in vectors] == [(p.hint_slots, dim) for p in pairs]
    assert all(v.requires_grad for v in vectors)


def test_hint_budget_and_slots_per_variant():
    q_ids = trained("r").encoder.query_ids(QUERIES[1])
    expected = {"zeroshot": None, "prompt": None, "r": 10, "a": len(q_ids)}
    for variant, budget in expected.items():
        model = trained(variant)
        assert model.hint_budget(q_ids) == budget
        for pair in model.prepare([QUERIES[1]] * len(DOCS), DOCS):
            assert pair.hint_slots == (len(pair.hint_tokens) if variant == "r" else budget or 0)
            assert bool(pair.hint_tokens) == (variant == "r")


@pytest.mark.parametrize("variant", WITH_HINTS)
def test_special_token_mask_is_shared_and_never_allowed_as_a_hint(variant):
    model = trained(variant)
    vocab = model.lm.get_input_embeddings().weight.shape[0]
    expected = special_token_mask(model.tokenizer, vocab)
    assert expected.sum() == len(model.tokenizer.all_special_ids) and torch.equal(model.hint_module.special, expected)
    assert "special" not in model.hint_module.state_dict()
    if variant == "r":
        assert not (model.hint_module.allowed & model.hint_module.special).any()


# -- following the LM across dtypes and devices ----------------------------------------------------------
@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_bf16_round_trip_scores_close_in_bf16_and_equal_once_the_weights_are_restored(variant):
    model = trained(variant)
    before, saved = scores(model), snapshot(model)
    model.to(torch.bfloat16)
    assert model.device.type == "cpu" and all(p.dtype == torch.bfloat16 for p in model.trainable_parameters().values())
    assert scores(model) == pytest.approx(before, abs=1e-2)
    model.to(torch.float32)
    assert scores(model) == pytest.approx(before, abs=1e-2)  # bf16-rounded weights: close, not equal
    restore(model, saved)  # in place: same storage, so only the version counter tells a cache the values changed
    assert scores(model) == before


def test_selection_after_moving_to_bf16_reads_the_current_embeddings(monkeypatch):
    model = trained("r")
    query, docs = QUERIES[0], DOCS
    fp32_hints = [p.hint_tokens for p in model.prepare([query] * 3, docs)]  # fills the normalised cache
    cached = model.hint_module.normalized_frozen
    model.to(torch.bfloat16)
    seen = {}
    import pyserini_qpeft.model.variants.retrieval as retrieval

    original = retrieval.select_hints

    def spy(query_vecs, query_ids, docs, token_vecs, allowed, k, backend, gpu_resources=None):
        seen.update(query_vecs=query_vecs, token_vecs=token_vecs, allowed=allowed, resources=gpu_resources)
        return original(query_vecs, query_ids, docs, token_vecs, allowed, k, backend, gpu_resources=gpu_resources)

    monkeypatch.setattr(retrieval, "select_hints", spy)
    pairs = model.prepare([query] * 3, docs)
    weight = model.lm.get_input_embeddings().weight
    assert weight.dtype == torch.bfloat16 and model.hint_module.frozen.dtype == torch.bfloat16
    assert seen["token_vecs"] is not cached and seen["token_vecs"].dtype == torch.float32
    assert torch.equal(seen["token_vecs"], torch.nn.functional.normalize(weight.detach().float(), dim=-1))
    q_ids = model.encoder.query_ids(query)
    table = model.hint_module.query_table.weight.detach()
    assert table.dtype == torch.bfloat16
    assert torch.equal(seen["query_vecs"], torch.nn.functional.normalize(table[q_ids].float(), dim=-1))
    assert seen["resources"] is model.hint_module._faiss_gpu
    assert [p.hint_tokens for p in pairs] != [] and len(pairs[0].hint_tokens) == len(fp32_hints[0])
    vectors = model.hint_vectors(pairs)
    assert all(v.dtype == torch.bfloat16 for v in vectors)


def test_attention_keys_are_the_current_embeddings_after_a_move():
    model = trained("a").to(torch.bfloat16)
    weight = model.lm.get_input_embeddings().weight
    with torch.no_grad():  # values a copy taken before the move could not have
        weight.add_(1.0)
    seen = {}
    model.hint_module.attention.register_forward_pre_hook(lambda module, args: seen.update(keys=args[1]))
    pairs = model.prepare([QUERIES[0]], [DOCS[0]])
    vectors = model.hint_vectors(pairs)
    assert model.hint_module.frozen.dtype == torch.bfloat16 and model.hint_module.frozen.data_ptr() == weight.data_ptr()
    assert seen["keys"].dtype == torch.bfloat16 and vectors[0].dtype == torch.bfloat16
    assert torch.equal(seen["keys"][0, : len(pairs[0].doc_ids)], weight.detach()[pairs[0].doc_ids])


def test_normalised_embeddings_are_recomputed_when_the_lm_changes_in_place():
    model = trained("r")
    first = model.hint_module.normalized_frozen
    assert model.hint_module.normalized_frozen is first  # cached while nothing changes
    with torch.no_grad():
        model.lm.get_input_embeddings().weight.mul_(2.0).add_(0.5)
    second = model.hint_module.normalized_frozen
    assert second is not first
    expected = torch.nn.functional.normalize(model.lm.get_input_embeddings().weight.detach().float(), dim=-1)
    assert torch.equal(second, expected)


# -- GPU FAISS resources ---------------------------------------------------------------------------------
def test_gpu_faiss_search_reuses_one_resources_object(monkeypatch):
    faiss = pytest.importorskip("faiss")
    created, used = [], []

    class FakeResources:
        def __init__(self):
            created.append(self)

    def to_gpu(resources, device, index):
        used.append(resources)
        return index

    fake = types.SimpleNamespace(
        IndexFlatIP=faiss.IndexFlatIP,
        StandardGpuResources=FakeResources,
        get_num_gpus=lambda: 1,
        index_cpu_to_gpu=to_gpu,
    )
    monkeypatch.setitem(sys.modules, "faiss", fake)
    holder = FaissGpuResources()
    assert created == []  # lazy
    token_vecs = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    allowed = torch.ones(40, dtype=torch.bool)
    docs = [[1, 2, 3, 4, 5], [6, 7, 8, 2], [9, 10, 11]]
    expected = select_torch(token_vecs[[0, 12]], [0, 12], docs, token_vecs, allowed, 2)
    for _ in range(3):
        found = select_faiss(
            token_vecs[[0, 12]], [0, 12], docs, token_vecs, allowed, 2, use_gpu=True, gpu_resources=holder
        )
        assert found == expected
    assert len(created) == 1 and used == created * 3
    assert copy.deepcopy(holder)._resources is None  # copies start without GPU state


# -- CUDA ------------------------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_on_cuda_scores_and_hint_selection_match_cpu(variant):
    from pyserini_qpeft.model.hint_selection import faiss_available, select_hints

    model = trained(variant)
    cpu_scores = scores(model)
    if variant == "r":
        q_ids = model.encoder.query_ids(QUERIES[0])
        docs = model.encoder.document_ids(DOCS)
        query_vecs, table, allowed = model.hint_module.selection_inputs(q_ids)
        cpu_hints = select_hints(query_vecs, q_ids, docs, table, allowed, 10, backend="torch")
        if faiss_available():
            assert select_hints(query_vecs, q_ids, docs, table, allowed, 10, backend="faiss") == cpu_hints
    model.to("cuda")
    assert model.device.type == "cuda"
    assert scores(model) == pytest.approx(cpu_scores, abs=1e-4)
    if variant == "r":
        model.hint_module.backend = "torch"
        query_vecs, table, allowed = model.hint_module.selection_inputs(q_ids)
        assert {t.device.type for t in (query_vecs, table, allowed)} == {"cuda"}
        assert model.hint_module.select(q_ids, docs) == cpu_hints
    model.to(torch.bfloat16)
    assert scores(model) == pytest.approx(cpu_scores, abs=1e-2)


class _DecodeOnly:
    """A tokenizer without a Rust backend: only ``batch_decode`` and a length (the fallback path)."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        self.decoded = 0

    def __len__(self):
        return len(self._tokenizer)

    def batch_decode(self, ids):
        self.decoded += 1
        return self._tokenizer.batch_decode(ids)


def test_hint_token_filters_agree_on_both_decoding_paths_and_skip_decoding_on_meta():
    from pyserini_qpeft.model.variants.retrieval import allowed_hint_tokens

    tokenizer = tiny_tokenizer()
    special = special_token_mask(tokenizer, len(tokenizer))
    allowed = allowed_hint_tokens(tokenizer, special, filter_stopwords=True, filter_nonalpha=True)
    slow = _DecodeOnly(tokenizer)
    assert torch.equal(allowed, allowed_hint_tokens(slow, special, True, True)) and slow.decoded == 1

    def single(text):
        (token,) = tokenizer(text, add_special_tokens=False)["input_ids"]
        return token

    assert not allowed[special].any()
    assert not allowed[single(" the")] and not allowed[single(".")] and allowed[single(" risk")]
    assert allowed_hint_tokens(tokenizer, special, filter_stopwords=False, filter_nonalpha=True)[single(" the")]
    with torch.device("meta"):  # a checkpoint's shape check: sizes only, the vocabulary is not decoded
        meta = allowed_hint_tokens(slow, special_token_mask(tokenizer, len(tokenizer)), True, True)
    assert meta.is_meta and meta.shape == allowed.shape and slow.decoded == 1
