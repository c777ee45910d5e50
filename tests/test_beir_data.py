import json

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.beir import (
    beir_dir,
    first_queries,
    iter_corpus,
    load_qrels,
    load_queries,
    load_topics,
    qrels_path,
)

from conftest import read_beir_qrels

CORPUS = [
    {"_id": "d1", "title": "Cats", "text": "Cats purr."},
    {"_id": "d2", "title": "", "text": "Dogs bark."},
    {"_id": 3, "title": "Fish", "text": "Fish swim."},
]
QUERIES = [
    {"_id": "q1", "text": "do cats purr"},
    {"_id": "q2", "text": "do dogs bark"},
    {"_id": 7, "text": "numeric id"},
]


# --- real scifact --------------------------------------------------------------------------


def test_scifact_queries_without_split(scifact):
    queries = load_queries(scifact)
    assert len(queries) == 1109
    assert queries["0"] == "0-dimensional biomaterials lack inductive properties."
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in queries.items())


@pytest.mark.parametrize("split, count", [("test", 300), ("train", 809)])
def test_scifact_queries_with_split(scifact, split, count):
    queries = load_queries(scifact, split)
    qrels = read_beir_qrels(scifact / "qrels" / f"{split}.tsv")
    assert len(queries) == count
    assert list(queries) == list(qrels)  # judged queries only, in qrels order
    everything = load_queries(scifact)
    assert all(queries[q] == everything[q] for q in queries)


def test_scifact_splits_are_disjoint(scifact):
    assert not set(load_queries(scifact, "test")) & set(load_queries(scifact, "train"))


def test_scifact_qrels(scifact):
    qrels = load_qrels(scifact / "qrels" / "test.tsv")
    assert len(qrels) == 300
    assert sum(len(docs) for docs in qrels.values()) == 339  # 340 lines minus the header
    assert qrels["1"] == {"31715818": 1}
    assert "query-id" not in qrels


def test_scifact_corpus_records(scifact):
    records = iter_corpus(scifact)
    first = next(records)
    assert first["_id"] == "4983"
    assert first["title"].startswith("Microstructural development of human newborn")
    assert sum(1 for _ in records) + 1 == 5183


# --- synthetic folders ----------------------------------------------------------------------


def test_ids_become_strings(make_beir):
    folder = make_beir(CORPUS, QUERIES, {"test": {"q1": {"d1": 1}, "7": {3: 2}}})
    queries = load_queries(folder)
    assert queries == {"q1": "do cats purr", "q2": "do dogs bark", "7": "numeric id"}
    assert load_queries(folder, "test") == {"q1": "do cats purr", "7": "numeric id"}
    assert [r["_id"] for r in iter_corpus(folder)] == ["d1", "d2", 3]


def test_split_with_unknown_query_ids(make_beir):
    folder = make_beir(CORPUS, QUERIES, {"test": {"q1": {"d1": 1}, "nope": {"d2": 1}}})
    with pytest.raises(InputError) as info:
        load_queries(folder, "test")
    message = str(info.value)
    assert "test.tsv" in message and "'nope'" in message and "queries.jsonl" in message


def test_texts_with_unicode_line_separators(make_beir):
    """Only '\\n' ends a JSONL record: U+0085 / U+2028 inside a text must not split it."""
    corpus = [{"_id": "d1", "title": "t", "text": "a\u0085b\u2028c"}, {"_id": "d2", "title": "", "text": "x"}]
    folder = make_beir(corpus, QUERIES)
    assert [r["text"] for r in iter_corpus(folder)] == ["a\u0085b\u2028c", "x"]


def test_blank_lines_are_skipped(tmp_path):
    (tmp_path / "corpus.jsonl").write_text('\n{"_id": "d1", "text": "x"}\n\n', encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n   \n', encoding="utf-8")
    assert [r["_id"] for r in iter_corpus(tmp_path)] == ["d1"]
    assert load_queries(tmp_path) == {"q1": "x"}


# --- qrels ------------------------------------------------------------------------------------


def test_beir_qrels_with_header(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}


def test_beir_qrels_without_header(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("q1\td1\t1\nq2\td3\t2\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"d1": 1}, "q2": {"d3": 2}}


def test_trec_qrels(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("301 0 FBIS3-10082 1\n301 0 FBIS3-10169 0\n\n302 Q0 LA010189-0001 3\n", encoding="utf-8")
    assert load_qrels(path) == {"301": {"FBIS3-10082": 1, "FBIS3-10169": 0}, "302": {"LA010189-0001": 3}}


def test_qrels_relevance_as_float(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("q1\td1\t2.0\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"d1": 2}}


@pytest.mark.parametrize(
    "content, line, words",
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1 d2\n", 3, "got 2 fields"),
        ("q1\td1\t1\nq1 x d2 1 extra\n", 2, "got 5 fields"),
        ("query-id\tcorpus-id\tscore\nq1\td1\tyes\n", 2, "'yes' is not a number"),
    ],
)
def test_bad_qrels_line(tmp_path, content, line, words):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_qrels(path)
    assert f"{path}:{line}:" in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "grade, words",
    [
        ("inf", "must be an integer grade"),
        ("1e400", "must be an integer grade"),
        ("nan", "must be an integer grade"),
        ("0.5", "must be an integer grade"),
        ("99999999999999999999", "is out of range; grades are integers from -1000 to 1000"),
        ("1001", "is out of range"),
        ("-1001", "is out of range"),
        ("1_0", "must be an integer grade"),  # int() would read 10
        ("\u0661", "must be an integer grade"),  # an Arabic-Indic digit: int() would read 1
        ("high", "is not a number"),
    ],
)
def test_relevance_must_be_a_small_integer(tmp_path, grade, words):
    """float() then int() gave an OverflowError for inf/1e400 and pytrec_eval a SystemError for 10**20."""
    path = tmp_path / "qrels.txt"
    path.write_text(f"q1 0 d1 1\nq1 0 d2 {grade}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_qrels(path)
    assert str(info.value).startswith(f"{path}:2: relevance ") and words in str(info.value), str(info.value)


def test_relevance_grades_that_are_integers_are_kept(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 a -2\nq1 0 b +1\nq1 0 c 1000\nq1 0 d 3.00\nq1 0 e 007\nq1 0 f -0\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"a": -2, "b": 1, "c": 1000, "d": 3, "e": 7, "f": 0}}


def test_a_pair_judged_twice_with_other_grades_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\nq1\td1\t2\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_qrels(path)
    assert str(info.value) == (
        f"{path}:4: document 'd1' of query 'q1' is judged 2 here and 1 on line 2; keep one judgment per pair"
    )


def test_a_pair_judged_twice_alike_is_kept_once(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d1 1.0\nq2 0 d1 0\n", encoding="utf-8")
    assert load_qrels(path) == {"q1": {"d1": 1}, "q2": {"d1": 0}}


def test_empty_qrels(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    with pytest.raises(InputError, match="no judgments"):
        load_qrels(path)


def test_missing_qrels_file(tmp_path):
    with pytest.raises(InputError) as info:
        load_qrels(tmp_path / "nope.tsv")
    assert "nope.tsv" in str(info.value) and "not found" in str(info.value)


# --- topics -----------------------------------------------------------------------------------


def test_load_topics(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("1\tfirst query\r\n\n2\tsecond\twith a tab\n 3 \tthird\n", encoding="utf-8")
    assert load_topics(path) == {"1": "first query", "2": "second\twith a tab", "3": "third"}


@pytest.mark.parametrize(
    "content, line, words",
    [
        ("1\tok\n2\t   \n", 2, "query '2' has empty text"),
        ("1\tok\n2\n", 2, "expected 'qid<TAB>query text'"),
        ("1 no tab here\n", 1, "expected 'qid<TAB>query text'"),
        ("\tno id\n", 1, "expected 'qid<TAB>query text'"),
    ],
)
def test_bad_topics(tmp_path, content, line, words):
    path = tmp_path / "topics.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_topics(path)
    assert f"{path}:{line}:" in str(info.value)
    assert words in str(info.value)


def test_empty_topics_file(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="no topics found"):
        load_topics(path)


def test_missing_topics_file(tmp_path):
    with pytest.raises(InputError) as info:
        load_topics(tmp_path / "topics.tsv")
    assert "topics.tsv" in str(info.value) and "not found" in str(info.value)


# --- folder errors ----------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(InputError) as info:
        load_queries(tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and "BEIR folder not found" in str(info.value)


def test_missing_corpus(tmp_path):
    (tmp_path / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        beir_dir(tmp_path)
    assert str(tmp_path / "corpus.jsonl") in str(info.value)
    assert "corpus.jsonl not found" in str(info.value)


def test_missing_queries(make_beir, tmp_path):
    folder = make_beir(CORPUS, QUERIES)
    (folder / "queries.jsonl").unlink()
    with pytest.raises(InputError) as info:
        list(iter_corpus(folder))
    assert "queries.jsonl not found" in str(info.value)


def test_bad_json_line_in_corpus(make_beir):
    folder = make_beir(CORPUS, QUERIES)
    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"_id": "d4", "text": "unterminated\n')
    records = iter_corpus(folder)
    assert [next(records)["_id"] for _ in range(3)] == ["d1", "d2", 3]  # the good lines come first
    with pytest.raises(InputError) as info:
        next(records)
    message = str(info.value)
    assert f"{folder / 'corpus.jsonl'}:4:" in message
    assert "not valid JSON" in message


def test_bad_json_line_in_queries(make_beir):
    folder = make_beir(CORPUS, QUERIES)
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(1, "not json")
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_queries(folder)
    assert f"{folder / 'queries.jsonl'}:2:" in str(info.value)


@pytest.mark.parametrize("record", [["a", "list"], {"title": "no id", "text": "x"}])
def test_record_without_id(make_beir, record):
    folder = make_beir(CORPUS[:1] + [record], QUERIES)
    with pytest.raises(InputError) as info:
        list(iter_corpus(folder))
    assert f"{folder / 'corpus.jsonl'}:2:" in str(info.value) and '"_id"' in str(info.value)


def test_non_string_text(make_beir):
    folder = make_beir(CORPUS + [{"_id": "d9", "title": "t", "text": 42}], QUERIES)
    with pytest.raises(InputError) as info:
        list(iter_corpus(folder))
    assert f"{folder / 'corpus.jsonl'}:4:" in str(info.value)
    folder = make_beir(CORPUS, QUERIES + [{"_id": "q9", "text": None}], name="other")
    with pytest.raises(InputError) as info:
        load_queries(folder)
    assert f"{folder / 'queries.jsonl'}:4:" in str(info.value)


def test_unknown_split_lists_available(make_beir):
    folder = make_beir(CORPUS, QUERIES, {"test": {"q1": {"d1": 1}}, "dev": {"q2": {"d2": 1}}})
    with pytest.raises(InputError) as info:
        load_queries(folder, "train")
    message = str(info.value)
    assert "'train'" in message and "train.tsv" in message
    assert "available splits: dev, test" in message


def test_unknown_split_without_qrels_folder(make_beir):
    folder = make_beir(CORPUS, QUERIES)
    with pytest.raises(InputError) as info:
        qrels_path(folder, "test")
    assert "available splits: none" in str(info.value)


def test_unknown_split_on_scifact(scifact):
    with pytest.raises(InputError) as info:
        load_queries(scifact, "dev")
    assert "available splits: test, train" in str(info.value)


def test_corpus_is_read_lazily_and_unchanged(make_beir):
    folder = make_beir(CORPUS, QUERIES)
    on_disk = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert list(iter_corpus(folder)) == on_disk


def test_topics_with_a_byte_order_mark_keep_the_first_qid_clean(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_bytes("\ufeffq1\tfirst query\nq2\tsecond\n".encode("utf-8"))
    assert load_topics(path) == {"q1": "first query", "q2": "second"}


def test_topics_refuse_a_repeated_qid_and_qids_with_spaces(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("q1\tfirst\nq2\tsecond\nq1\tagain\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"topics.tsv:3: query id 'q1' appears twice \(first on line 1\)"):
        load_topics(path)
    path.write_text("q 1\tfirst\n", encoding="utf-8")
    with pytest.raises(InputError, match="topics.tsv:1: query id 'q 1' contains spaces"):
        load_topics(path)


def test_beir_queries_refuse_a_repeated_id(make_beir):
    folder = make_beir([{"_id": "d", "text": "x"}], [{"_id": "q1", "text": "a"}, {"_id": "q1", "text": "b"}])
    with pytest.raises(InputError, match=r"queries.jsonl:2: query id 'q1' appears twice"):
        load_queries(folder)


def test_first_queries_keeps_the_first_n_in_order():
    queries = {"3": "c", "1": "a", "2": "b"}
    assert first_queries(queries, None) == queries
    assert list(first_queries(queries, 2)) == ["3", "1"]
    assert first_queries(queries, 9) == queries
    with pytest.raises(InputError, match="--max-queries must be at least 2, got 1"):
        first_queries(queries, 1, minimum=2)
    with pytest.raises(InputError, match="topics.max_queries must be at least 1, got 0"):
        first_queries(queries, 0, name="topics.max_queries")
