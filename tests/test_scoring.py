import math

import pytest
import torch

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import PairEncoder, QueryLikelihoodScorer, length_batches

from _tiny_models import tiny_gpt2, tiny_llama, tiny_tokenizer

DOCS = [
    "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "A short one.",
    "Gene expression in tumour cells changes after radiation therapy, as measured by sequencing " * 3,
    "Vitamin D deficiency is common among older people living in northern countries.",
]
QUERY = "Does aspirin prevent heart attacks?"


def make_scorer(model, tokenizer, max_length=128, batch_size=32, token_budget=8192, **config):
    qpeft = QPEFTModel(model, tokenizer, QPEFTConfig(max_length=max_length, **config))
    return QueryLikelihoodScorer(qpeft, batch_size=batch_size, token_budget=token_budget)


def naive_scores(model, tokenizer, query, docs, max_length=512):
    """One pair at a time, full-vocabulary logits over the whole sequence, no padding."""
    encoder = PairEncoder(tokenizer, max_length)
    query_ids = encoder.query_ids(query)
    scores = []
    for i, ids in enumerate(encoder.document_ids(docs)):
        pair = encoder.encode(query_ids, ids, i)
        sequence = torch.tensor([pair.context + pair.target])
        with torch.no_grad():
            logits = model(sequence).logits[0]
        log_probs = torch.log_softmax(logits.float(), -1)
        start = len(pair.context)
        values = [log_probs[start + j - 1, tok].item() for j, tok in enumerate(pair.target)]
        scores.append(sum(values) / len(values))
    return scores


@pytest.mark.parametrize("make_model", [tiny_llama, tiny_gpt2])
def test_batched_left_padded_scores_equal_one_pair_at_a_time(make_model):
    tokenizer = tiny_tokenizer()
    model = make_model(len(tokenizer))
    scorer = make_scorer(model, tokenizer, max_length=128, batch_size=4)
    batched = scorer.score_pairs([QUERY] * len(DOCS), DOCS)
    expected = naive_scores(model, tokenizer, QUERY, DOCS, max_length=128)
    assert batched == pytest.approx(expected, abs=1e-4)
    assert len(set(round(s, 6) for s in batched)) == len(DOCS)  # the documents really differ


def test_scores_do_not_depend_on_batching():
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer))
    one = make_scorer(model, tokenizer, max_length=128, batch_size=1).score_pairs([QUERY] * 4, DOCS)
    many = make_scorer(model, tokenizer, max_length=128, batch_size=3, token_budget=200).score_pairs([QUERY] * 4, DOCS)
    assert many == pytest.approx(one, abs=1e-5)


def test_mixed_queries_keep_input_order():
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer))
    scorer = make_scorer(model, tokenizer, max_length=128)
    queries = [QUERY, "vitamin d in the elderly", QUERY, "radiation and tumours"]
    together = scorer.score_pairs(queries, DOCS)
    alone = [scorer.score_pairs([q], [d])[0] for q, d in zip(queries, DOCS)]
    assert together == pytest.approx(alone, abs=1e-5)


def test_documents_are_truncated_never_the_query():
    tokenizer = tiny_tokenizer()
    encoder = PairEncoder(tokenizer, max_length=40)
    query_ids = encoder.query_ids(QUERY)
    doc_ids = encoder.document_ids(["word " * 500])[0]
    pair = encoder.encode(query_ids, doc_ids, 0)
    assert len(pair) == 40
    assert pair.target[:-1] == query_ids and pair.target[-1] == tokenizer.eos_token_id
    with pytest.raises(InputError, match="max_length"):
        PairEncoder(tokenizer, max_length=12).encode(encoder.query_ids("a long question " * 10), doc_ids, 0)


def test_layout_is_passage_then_question():
    tokenizer = tiny_tokenizer()
    encoder = PairEncoder(tokenizer, max_length=128)
    pair = encoder.encode(encoder.query_ids("why?"), encoder.document_ids(["Some text."])[0], 0)
    text = tokenizer.decode(pair.context + pair.target)
    assert text == "Passage: Some text.\nQuestion: why?</s>"


def test_empty_inputs_are_rejected():
    tokenizer = tiny_tokenizer()
    scorer = make_scorer(tiny_llama(len(tokenizer)), tokenizer, max_length=64)
    with pytest.raises(InputError, match="query is empty"):
        scorer.score_pairs(["  "], ["doc"])
    with pytest.raises(InputError, match="document 1"):
        scorer.score_pairs(["q", "q"], ["doc", "\n\t"])
    with pytest.raises(InputError, match="2 queries but 1 documents"):
        scorer.score_pairs(["q", "q"], ["doc"])


def test_length_batches_respect_budget_and_cover_everything():
    tokenizer = tiny_tokenizer()
    encoder = PairEncoder(tokenizer, max_length=128)
    query_ids = encoder.query_ids(QUERY)
    docs = [("word " * n).strip() for n in (1, 5, 50, 20, 3, 90, 7)]
    pairs = [encoder.encode(query_ids, ids, i) for i, ids in enumerate(encoder.document_ids(docs))]
    batches = list(length_batches(pairs, batch_size=3, token_budget=150))
    assert sorted(p.index for b in batches for p in b) == list(range(len(docs)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or max(len(p) for p in batch) * len(batch) <= 150
        assert [len(p) for p in batch] == sorted((len(p) for p in batch), reverse=True)


def test_scoring_leaves_the_model_unchanged_and_builds_no_graph():
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = make_scorer(model, tokenizer, max_length=64).score_pairs([QUERY] * 2, DOCS[:2])
    assert all(math.isfinite(s) and s < 0 for s in scores)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_token_budget_defaults_by_device_and_never_below_max_length():
    from pyserini_qpeft.model.scoring import default_token_budget

    assert default_token_budget("cpu", 512) == 2048
    assert default_token_budget("cuda", 512) == 8192
    assert default_token_budget("cpu", 4096) == 4096
    tokenizer = tiny_tokenizer()
    scorer = QueryLikelihoodScorer(QPEFTModel(tiny_llama(len(tokenizer)), tokenizer, QPEFTConfig(max_length=128)))
    assert scorer.token_budget == 2048
    with pytest.raises(InputError, match="token_budget >= max_length"):
        make_scorer(tiny_llama(len(tokenizer)), tokenizer, max_length=128, token_budget=64)


def test_lm_head_gets_a_contiguous_input_once_hooked_and_scores_are_unchanged():
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer))
    head = model.get_output_embeddings()
    seen = []
    recorder = head.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    expected = naive_scores(model, tokenizer, QUERY, DOCS, max_length=128)
    scorer = make_scorer(model, tokenizer)
    make_scorer(model, tokenizer)  # a second QPEFTModel on the same LM adds no second hook
    assert len(head._forward_pre_hooks) == 2
    recorder.remove()
    seen.clear()
    recorder = head.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous()))
    scores = scorer.score_pairs([QUERY] * len(DOCS), DOCS)
    recorder.remove()
    assert seen and all(seen)
    assert scores == pytest.approx(expected, abs=1e-5)
