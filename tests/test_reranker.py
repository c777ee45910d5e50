import pytest

from pyserini_qpeft import Candidate, QPEFTReranker
from pyserini_qpeft.errors import InputError, QPEFTError
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.loading import resolve_model

from _tiny_models import tiny_llama, tiny_reranker, tiny_tokenizer

DOCS = {
    "d1": "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "d2": "Vitamin D deficiency is common among older people.",
    "d3": "Radiation therapy changes gene expression in tumour cells.",
    "d4": "Exercise improves insulin sensitivity.",
    "d5": "Smoking raises the risk of lung cancer.",
}
QUERY = "Does aspirin prevent heart attacks?"


@pytest.fixture(scope="module")
def reranker():
    return tiny_reranker(base_model="tiny", max_length=128)


def hits():
    return [Candidate(docid=d, score=10.0 - i, text=t) for i, (d, t) in enumerate(DOCS.items())]


def test_rerank_sorts_by_the_scores_of_score(reranker):
    result = reranker.rerank(QUERY, hits())
    expected = dict(zip(DOCS, reranker.score(QUERY, list(DOCS.values()))))
    assert sorted(c.docid for c in result) == sorted(DOCS)
    assert [c.score for c in result] == sorted(expected.values(), reverse=True)
    assert all(c.score == pytest.approx(expected[c.docid]) for c in result)
    assert all(c.text == DOCS[c.docid] for c in result)
    assert [c.first_stage_score for c in sorted(result, key=lambda c: c.docid)] == [10.0, 9.0, 8.0, 7.0, 6.0]


def test_rerank_depth_keeps_the_tail_in_order_below_the_head(reranker):
    result = reranker.rerank(QUERY, hits(), k=2)
    assert {c.docid for c in result[:2]} == {"d1", "d2"}
    assert [c.docid for c in result[2:]] == ["d3", "d4", "d5"]
    scores = [c.score for c in result]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)


def test_rerank_of_plain_hits_needs_text_or_a_searcher(reranker):
    class Hit:  # what a Pyserini hit looks like without a stored document
        docid, score, lucene_document = "d1", 1.0, None

    with pytest.raises(InputError, match="searcher="):
        reranker.rerank(QUERY, [Hit()])


def test_predict_matches_score(reranker):
    pairs = [(QUERY, text) for text in DOCS.values()]
    assert reranker.predict(pairs, batch_size=2) == pytest.approx(reranker.score(QUERY, list(DOCS.values())), abs=1e-5)


def test_from_pretrained_loads_a_local_folder(tmp_path):
    tokenizer = tiny_tokenizer()
    model = tiny_llama(len(tokenizer), seed=3)
    model.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    loaded = QPEFTReranker.from_pretrained(str(tmp_path / "lm"), device="cpu", dtype="float32", max_length=1000)
    assert loaded.model.encoder.max_length == 256  # capped at the model's positions
    direct = QPEFTReranker.from_lm(model, tokenizer, QPEFTConfig(max_length=256))
    assert loaded.score(QUERY, list(DOCS.values())) == pytest.approx(direct.score(QUERY, list(DOCS.values())), abs=1e-6)


def test_unknown_model_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(QPEFTError, match="not a local folder"):
        resolve_model("no-such-org/no-such-model")
    with pytest.raises(QPEFTError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(QPEFTError, match="GGUF file not found"):
        resolve_model(str(tmp_path / "x.gguf"))


def test_unknown_model_id_with_no_network_fails_at_once_unless_downloads_are_asked_for(monkeypatch, tmp_path):
    """Neither a local folder, a preset nor in the cache: one line in well under a second, no Hub retries."""
    import time

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("PYSERINI_QPEFT_DOWNLOAD", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(QPEFTError) as error:
        QPEFTReranker.from_pretrained("some-org/not-local", device="cpu")
    assert time.monotonic() - start < 2
    message = str(error.value)
    assert "\n" not in message and "'some-org/not-local'" in message and "PYSERINI_QPEFT_DOWNLOAD=1" in message
    monkeypatch.setenv("PYSERINI_QPEFT_DOWNLOAD", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # asked for, but the Hub is switched off: still at once
    with pytest.raises(QPEFTError, match="the Hub is switched off"):
        resolve_model("some-org/not-local")


def test_gguf_cache_key_follows_the_bytes_not_the_path(tmp_path):
    from pyserini_qpeft.model.loading import gguf_key

    first, copy, other = tmp_path / "a" / "m.gguf", tmp_path / "b" / "m.gguf", tmp_path / "c" / "m.gguf"
    for path, data in ((first, b"GGUF model bytes"), (copy, b"GGUF model bytes"), (other, b"GGUF other bytes")):
        path.parent.mkdir()
        path.write_bytes(data)
    assert gguf_key(first) == gguf_key(copy)  # two environments' copies share one converted folder
    assert gguf_key(first) != gguf_key(other)
    other.write_bytes(b"GGUF model bytes")  # a file rewritten in place is hashed again
    assert gguf_key(other) == gguf_key(first)


def test_gguf_special_tokens_override_a_wrong_conversion(tmp_path):
    import gguf

    from pyserini_qpeft.model.loading import gguf_special_token_ids, set_special_tokens

    from _tiny_models import tiny_tokenizer

    path = tmp_path / "meta.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    ids = gguf_special_token_ids(path)
    assert ids == {"bos_token": 1, "eos_token": 2}

    tokenizer = tiny_tokenizer()
    tokenizer.eos_token = "<s>"  # what a faulty conversion leaves: EOS on the BOS token
    set_special_tokens(tokenizer, ids)
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.eos_token_id) == ("<s>", "</s>", 2)


@pytest.mark.parametrize(
    "pairs, says",
    [
        (["ab"], "pairs[0] is 'ab', not a (query, document) pair"),  # scored query "a" against document "b"
        ([(QUERY,)], "pairs[0] is ('Does aspirin prevent heart attacks?',), not a (query, document) pair"),
        ([(QUERY, DOCS["d1"], "extra")], "pairs[0] is ("),
        ([(QUERY, DOCS["d1"]), (QUERY, None)], "pairs[1] holds a str and a NoneType"),
        ([(1, DOCS["d1"])], "pairs[0] holds a int and a str"),
        (None, "pairs must be a list of (query, document) tuples, got NoneType"),
        ("ab", "pairs must be a list of (query, document) tuples, got str"),
    ],
)
def test_predict_refuses_what_is_not_a_list_of_string_pairs(reranker, pairs, says):
    with pytest.raises(InputError) as error:
        reranker.predict(pairs)
    assert str(error.value).startswith("predict(pairs): ") and says in str(error.value), str(error.value)
    assert len(str(error.value).splitlines()) == 1


def test_predict_takes_lists_and_generators_of_pairs(reranker):
    expected = reranker.predict([(QUERY, DOCS["d1"]), (QUERY, DOCS["d2"])])
    assert reranker.predict([[QUERY, DOCS["d1"]], [QUERY, DOCS["d2"]]]) == pytest.approx(expected)
    assert reranker.predict((QUERY, doc) for doc in (DOCS["d1"], DOCS["d2"])) == pytest.approx(expected)
    assert reranker.predict([]) == []


def test_a_candidate_whose_score_is_none_is_one_line(reranker):
    """float(None) raised a bare TypeError."""
    with pytest.raises(InputError, match=r"^hits\[1\] \('d2'\) has first-stage score None; scores must be finite"):
        reranker.rerank(QUERY, [Candidate("d1", 2.0, DOCS["d1"]), Candidate("d2", None, DOCS["d2"])])


def test_rank_sorts_like_cross_encoder_rank_with_top_k_and_documents():
    from _tiny_models import tiny_reranker

    reranker = tiny_reranker(max_length=96)
    query = "aspirin and heart attacks"
    docs = ["Aspirin lowers heart attack risk.", "Bridges are painted in spring.", "Vitamin D in winter.", "Aspirin."]
    scores = reranker.score(query, docs)
    ranked = reranker.rank(query, docs)
    assert [r["corpus_id"] for r in ranked] == sorted(range(4), key=lambda i: -scores[i])
    assert [r["score"] for r in ranked] == sorted(scores, reverse=True) and "text" not in ranked[0]
    top = reranker.rank(query, docs, top_k=2, return_documents=True)
    assert top == [{**r, "text": docs[r["corpus_id"]]} for r in ranked[:2]]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="top_k must be a positive integer"):
            reranker.rank(query, docs, top_k=bad)
    with pytest.raises(TypeError):
        reranker.rank(query, docs, topk=2)  # a misspelt keyword is not swallowed
