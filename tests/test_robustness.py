"""Property-based checks of the text and file paths: clear errors or documented handling, never a crash."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.cli.pipeline_file import load_pipeline_config
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.beir import load_queries, load_topics
from pyserini_qpeft.runs.trec import read_run
from pyserini_qpeft.text import clean_text

from _tiny_models import tiny_reranker

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Any code point, lone surrogates (which JSON can carry) included, plus emoji, control characters and mixed scripts.
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=300)


@pytest.fixture(scope="module")
def reranker():
    return tiny_reranker(max_length=96)


@SETTINGS
@given(query=TEXT, doc=TEXT)
def test_any_text_scores_finitely_or_is_rejected_as_empty(reranker, query, doc):
    try:
        [score] = reranker.score(query, [doc])
    except InputError as exc:
        assert "empty" in str(exc) or "too long" in str(exc)
        assert not query.strip() or not doc.strip() or "too long" in str(exc)
    else:
        assert math.isfinite(score) and score <= 0


@SETTINGS
@given(words=st.integers(min_value=1, max_value=3000))
def test_very_long_documents_are_cut_to_fit(reranker, words):
    pair = reranker.model.prepare(["short question"], ["token " * words])[0]
    assert len(pair) <= reranker.model.encoder.max_length


@SETTINGS
@given(text=TEXT)
def test_clean_text_leaves_valid_text_alone_and_fixes_surrogates(text):
    cleaned = clean_text(text)
    cleaned.encode("utf-8")
    assert len(cleaned) == len(text)
    if all(not 0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert cleaned == text


@SETTINGS
@given(lines=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60), max_size=8))
def test_malformed_run_files_give_input_errors(tmp_path, lines):
    path = tmp_path / "run.trec"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        run = read_run(path)
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(score, float) for hits in run.values() for _, score in hits)


@SETTINGS
@given(body=st.text(max_size=200))
def test_malformed_yaml_gives_input_errors(tmp_path, body):
    path = tmp_path / "p.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(InputError):
        load_pipeline_config(path)  # random text never makes a complete config


def test_surrogates_in_json_queries_and_topics(tmp_path):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "", "text": "x"}) + "\n")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "bad \\udc80 surrogate"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert load_queries(beir, "test") == {"q1": "bad \udc80 surrogate"}
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\t\U0001f600 emoji and \u4e2d\u6587\n", encoding="utf-8")
    assert load_topics(topics)["q1"].startswith("\U0001f600")


def test_cli_never_shows_a_traceback_for_garbage_inputs(tmp_path, capsys):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe\x00binary\x00junk\n")
    for argv in (
        ["evaluate", "--run", str(garbage), "--qrels", str(garbage)],
        ["pipeline", str(garbage)],
        ["search", "--index", str(garbage), "--topics", str(garbage), "--output", str(tmp_path / "o")],
    ):
        assert main(["-q", *argv]) == 1, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
