import random

import pytest
import torch

from pyserini_qpeft.model.hint_selection import select_faiss, select_hints, select_paper, select_torch


def sparse_unit_vectors(n, dim, generator):
    """Unit vectors with four entries of +-0.5: every inner product is a multiple of 0.25, exact in any order,
    so ties are common and every implementation sees the same numbers."""
    vecs = torch.zeros(n, dim)
    for row in range(n):
        cols = torch.randperm(dim, generator=generator)[:4]
        signs = torch.randint(0, 2, (4,), generator=generator) * 2 - 1
        vecs[row, cols] = 0.5 * signs.float()
    return vecs


def random_case(seed, vocab=60, dim=8, n_docs=5, dense=False):
    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    if dense:
        token_vecs = torch.nn.functional.normalize(
            torch.randn(vocab, dim, generator=generator, dtype=torch.float64), dim=-1
        )
    else:
        token_vecs = sparse_unit_vectors(vocab, dim, generator)
    query_ids = [rng.randrange(vocab) for _ in range(rng.randint(1, 6))]
    query_vecs = (
        token_vecs[query_ids]
        if rng.random() < 0.5
        else (
            torch.nn.functional.normalize(
                torch.randn(len(query_ids), dim, generator=generator, dtype=token_vecs.dtype), dim=-1
            )
            if dense
            else sparse_unit_vectors(len(query_ids), dim, generator)
        )
    )
    docs = [[rng.randrange(vocab) for _ in range(rng.randint(0, 25))] for _ in range(n_docs)]
    allowed = torch.ones(vocab, dtype=torch.bool)
    allowed[torch.randperm(vocab, generator=generator)[: vocab // 6]] = False
    return query_vecs, query_ids, docs, token_vecs, allowed


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_torch_and_faiss_equal_the_papers_per_pair_procedure_with_ties(seed, k):
    query_vecs, query_ids, docs, token_vecs, allowed = random_case(seed)
    expected = [select_paper(query_vecs, query_ids, doc, token_vecs, allowed, k) for doc in docs]
    assert select_torch(query_vecs, query_ids, docs, token_vecs, allowed, k) == expected
    assert select_faiss(query_vecs, query_ids, docs, token_vecs, allowed, k) == expected


@pytest.mark.parametrize("seed", range(10))
def test_dense_float64_torch_equals_the_paper(seed):
    query_vecs, query_ids, docs, token_vecs, allowed = random_case(seed, vocab=200, dim=16, dense=True)
    expected = [select_paper(query_vecs, query_ids, doc, token_vecs, allowed, 5) for doc in docs]
    assert select_torch(query_vecs, query_ids, docs, token_vecs, allowed, 5) == expected


def test_chosen_tokens_are_distinct_in_doc_not_query_and_allowed():
    query_vecs, query_ids, docs, token_vecs, allowed = random_case(7, vocab=30)
    for doc, chosen in zip(docs, select_hints(query_vecs, query_ids, docs, token_vecs, allowed, 4)):
        assert len(chosen) == len(set(chosen)) <= 4
        assert all(t in doc and t not in query_ids and bool(allowed[t]) for t in chosen)
        eligible = {t for t in doc if t not in query_ids and bool(allowed[t])}
        assert len(chosen) == min(4, len(eligible))


def test_ties_break_by_query_token_then_document_position():
    token_vecs = torch.eye(4)
    query_vecs = torch.eye(4)[[0]]  # scores: token 0 -> 1, tokens 1..3 -> 0
    allowed = torch.ones(4, dtype=torch.bool)
    doc = [3, 2, 0, 1, 2]
    assert select_paper(query_vecs, [], doc, token_vecs, allowed, 4) == [0, 3, 2, 1]
    assert select_torch(query_vecs, [], [doc], token_vecs, allowed, 4) == [[0, 3, 2, 1]]
    assert select_faiss(query_vecs, [], [doc], token_vecs, allowed, 4) == [[0, 3, 2, 1]]
