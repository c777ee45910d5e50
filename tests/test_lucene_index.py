import json

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.guards import is_lucene_index
from pyserini_qpeft.lucene.bm25 import bm25_search, hits_to_run
from pyserini_qpeft.lucene.index import build_index, document_text, index_record, open_searcher, text_from_raw


def leftover_temp_dirs(folder, name):
    return [p.name for p in folder.iterdir() if p.name.startswith(f".{name}.") and p.name.endswith(".tmp")]


# --- BM25 on the full scifact index -----------------------------------------------------------


def test_index_holds_the_whole_corpus(scifact_searcher):
    assert scifact_searcher.num_docs == 5183


def test_bm25_search(scifact_searcher):
    queries = {
        "5": "1/2000 in UK have abnormal PrP positivity.",
        "3": "1,000 genomes project enables mapping of genetic sequence variation",
    }
    found = bm25_search(scifact_searcher, queries, hits=10)
    assert list(found) == ["5", "3"]  # input order
    for hits in found.values():
        assert len(hits) == 10
        scores = [hit.score for hit in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(hit.docid, str) for hit in hits)
        assert len({hit.docid for hit in hits}) == 10
    assert found["5"][0].docid == "13734012"  # the judged document of query 5
    assert found["5"][0].score == pytest.approx(11.9332, abs=1e-3)  # BM25(k1=0.9, b=0.4)


def test_hits_to_run(scifact_searcher):
    found = bm25_search(scifact_searcher, {"5": "abnormal PrP positivity"}, hits=3)
    run = hits_to_run(found)
    assert run == {"5": [(hit.docid, float(hit.score)) for hit in found["5"]]}
    assert all(type(score) is float for _, score in run["5"])


def test_bm25_threads_and_chunks_agree(scifact, scifact_searcher):
    from pyserini_qpeft.runs.beir import load_queries

    queries = dict(list(load_queries(scifact, "test").items())[:40])
    calls = []
    single = hits_to_run(bm25_search(scifact_searcher, queries, hits=20, chunk=16, progress=calls.append))
    batched = hits_to_run(bm25_search(scifact_searcher, queries, hits=20, threads=2))
    assert calls == [16, 16, 8]
    assert list(single) == list(queries)
    assert single == batched


def test_bm25_rejects_bad_input(scifact_searcher):
    with pytest.raises(InputError, match="--hits must be at least 1, got 0"):
        bm25_search(scifact_searcher, {"1": "cancer"}, hits=0)
    with pytest.raises(InputError) as info:
        bm25_search(scifact_searcher, {"1": "cancer", "q-empty": "  \t"}, hits=5)
    assert "'q-empty'" in str(info.value) and "empty" in str(info.value)


def test_bm25_k1_b(scifact_index):
    """open_searcher sets BM25 parameters; different ones give different scores."""
    default = bm25_search(open_searcher(scifact_index), {"q": "vitamin B12 homocysteine"}, hits=5)["q"]
    other = bm25_search(open_searcher(scifact_index, k1=1.2, b=0.75), {"q": "vitamin B12 homocysteine"}, hits=5)["q"]
    assert [h.score for h in default] != pytest.approx([h.score for h in other])


def test_document_text_matches_corpus(scifact_searcher, scifact_corpus):
    for docid in ["4983", "13734012", "31715818"]:
        record = scifact_corpus[docid]
        assert document_text(scifact_searcher, docid) == f"{record['title']}\n{record['text']}"


def test_document_text_unknown_docid(scifact_searcher):
    with pytest.raises(InputError) as info:
        document_text(scifact_searcher, "no-such-doc-42")
    assert "'no-such-doc-42'" in str(info.value)
    assert "not in the index" in str(info.value)


def test_document_text_from_tiny_index(tmp_path):
    """Unicode and an empty title survive indexing; the stored raw JSON is ours."""
    corpus = [
        {"_id": "u1", "title": "Ünïcode", "text": "naïve café\u0085x"},
        {"_id": "u2", "title": "", "text": "no title here"},
    ]
    folder = tmp_path / "uni"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q", "text": "cafe"}\n', encoding="utf-8")
    assert build_index(folder, tmp_path / "idx") == 2
    searcher = open_searcher(tmp_path / "idx")
    assert document_text(searcher, "u1") == "Ünïcode\nnaïve café\u0085x"
    assert document_text(searcher, "u2") == "no title here"
    assert json.loads(searcher.doc("u1").raw()) == json.loads(index_record(corpus[0]))
    assert [h.docid for h in searcher.search("title", k=5)] == ["u2"]


# --- index records and raw text ---------------------------------------------------------------


def test_index_record():
    record = json.loads(index_record({"_id": 7, "title": "T", "text": "body"}))
    assert record == {"id": "7", "contents": "T\nbody", "title": "T", "text": "body"}
    record = json.loads(index_record({"_id": "x", "text": "body", "title": None}))
    assert record["contents"] == "body" and record["title"] == ""


@pytest.mark.parametrize(
    "raw, text",
    [
        ('{"id": "1", "contents": "T\\nb", "title": "T", "text": "b"}', "T\nb"),
        ('{"_id": "1", "title": "", "text": "b"}', "b"),
        ('{"id": "1", "contents": "only contents"}', "only contents"),
        ("plain text, not JSON", "plain text, not JSON"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_text_from_raw(raw, text):
    assert text_from_raw(raw) == text


# --- opening and building indexes -------------------------------------------------------------


def test_open_searcher_missing_folder(tmp_path):
    with pytest.raises(InputError) as info:
        open_searcher(tmp_path / "nope")
    message = str(info.value)
    assert str(tmp_path / "nope") in message and "index folder not found" in message
    assert "pyserini-qpeft index" in message


def test_open_searcher_empty_folder(tmp_path):
    with pytest.raises(InputError) as info:
        open_searcher(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "not a Lucene index" in message
    assert "pyserini-qpeft index" in message


def test_build_index_into_existing_folder(tiny_beir, tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InputError) as info:
        build_index(tiny_beir, target)
    assert str(target) in str(info.value) and "--overwrite" in str(info.value)
    assert (target / "keep.txt").read_text() == "mine"


def test_build_tiny_index_and_overwrite(tiny_beir, tiny_scifact, tmp_path):
    corpus, queries, qrels = tiny_scifact
    target = tmp_path / "idx"
    progress = []
    assert build_index(tiny_beir, target, batch_size=7, progress=progress.append) == 30
    assert progress == [7, 7, 7, 7, 2]
    assert open_searcher(target).num_docs == 30
    assert leftover_temp_dirs(tmp_path, "idx") == []
    # the judged documents of the sample queries are in the tiny index
    searcher = open_searcher(target)
    for docs in qrels.values():
        for docid in docs:
            assert searcher.doc(docid) is not None
    # overwrite with a smaller corpus
    small = tmp_path / "small"
    small.mkdir()
    (small / "corpus.jsonl").write_text(json.dumps(corpus[0]) + "\n", encoding="utf-8")
    (small / "queries.jsonl").write_text(json.dumps(queries[0]) + "\n", encoding="utf-8")
    assert build_index(small, target, overwrite=True) == 1
    assert open_searcher(target).num_docs == 1


def test_bad_json_line_leaves_no_partial_index(tiny_beir, tmp_path):
    lines = (tiny_beir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(20, '{"_id": "broken", "text": ')
    (tiny_beir / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "idx"
    with pytest.raises(InputError) as info:
        build_index(tiny_beir, target, batch_size=5)  # some batches are already added when the bad line comes
    assert f"{tiny_beir / 'corpus.jsonl'}:21:" in str(info.value)
    assert not target.exists()
    assert list(out.iterdir()) == []


def test_build_index_bad_input_before_java(tmp_path, make_beir):
    with pytest.raises(InputError, match="BEIR folder not found"):
        build_index(tmp_path / "nope", tmp_path / "idx")
    folder = make_beir([], [{"_id": "q", "text": "x"}], name="empty")
    with pytest.raises(InputError) as info:
        build_index(folder, tmp_path / "idx")
    assert "corpus.jsonl" in str(info.value) and "empty" in str(info.value)
    folder = make_beir([{"_id": "d", "text": "x"}], [], name="first-bad")
    (folder / "corpus.jsonl").write_text("{oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"corpus\.jsonl:1:"):
        build_index(folder, tmp_path / "idx")
    assert not (tmp_path / "idx").exists()
    assert leftover_temp_dirs(tmp_path, "idx") == []


def test_failed_overwrite_keeps_the_old_index(tmp_path):
    target = tmp_path / "idx"
    target.mkdir()
    (target / "segments_1").write_bytes(b"an existing index")
    with pytest.raises(InputError):
        build_index(tmp_path / "missing-beir-folder", target, overwrite=True)
    assert (target / "segments_1").read_bytes() == b"an existing index"


def test_overwrite_refuses_a_folder_that_is_not_an_index(tiny_beir, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "segments_1").write_text("looks like lucene")
    (target / "thesis.tex").write_text("mine")
    with pytest.raises(InputError, match="is not a Lucene index"):
        build_index(tiny_beir, target, overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["segments_1", "thesis.tex"]
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    with pytest.raises(InputError, match="is not a Lucene index"):
        build_index(tiny_beir, a_file, overwrite=True)
    assert a_file.read_text() == "mine"
    assert leftover_temp_dirs(tmp_path, "mine") == [] and leftover_temp_dirs(tmp_path, "a-file") == []


def test_overwrite_of_a_real_index_leaves_nothing_else_behind(tiny_beir, tmp_path):
    target = tmp_path / "idx"
    build_index(tiny_beir, target)
    assert is_lucene_index(target)
    assert build_index(tiny_beir, target, overwrite=True) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "tiny_beir"]


def test_documents_without_text_are_skipped_with_a_warning(make_beir, tmp_path, caplog):
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "cats are nice"},
        {"_id": "d2", "title": "", "text": ""},
        {"_id": "d3", "title": "Dogs", "text": ""},
        {"_id": "d4", "title": " ", "text": "  \n"},
    ]
    folder = make_beir(corpus, [{"_id": "q", "text": "cats"}], name="with-empty")
    with caplog.at_level("WARNING", logger="pyserini_qpeft"):
        assert build_index(folder, tmp_path / "idx") == 2
    assert "skipped 2 documents with no title and no text" in caplog.text and "d2, d4" in caplog.text
    searcher = open_searcher(tmp_path / "idx")
    assert searcher.num_docs == 2 and document_text(searcher, "d3") == "Dogs\n"
    with pytest.raises(InputError, match="documents with no text are not indexed"):
        document_text(searcher, "d2")
