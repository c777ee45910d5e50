"""``pyserini-qpeft index`` in-process: BEIR folder -> Lucene index, and its refusals."""

from _cli import assert_one_line_error, cli, files_in


def test_index(capsys, tiny_beir, tmp_path):
    from pyserini_qpeft.lucene.index import open_searcher

    target = tmp_path / "indexes" / "tiny"
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--threads", 1)
    assert code == 0
    assert out == ""
    assert any(target.glob("segments_*"))
    assert open_searcher(target).num_docs == 30
    assert files_in(target.parent) == ["tiny"]

    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)
    assert_one_line_error(code, err, "index", target, "--overwrite")
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--overwrite")
    assert code == 0
    assert open_searcher(target).num_docs == 30


def test_index_bad_corpus(capsys, tiny_beir, tmp_path):
    corpus = tiny_beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "{not json}\n", encoding="utf-8")
    target = tmp_path / "out" / "idx"
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)
    assert_one_line_error(code, err, "index", f"{corpus}:31:")
    assert not target.exists()
    assert not target.parent.exists() or files_in(target.parent) == []


def test_failed_overwrite_keeps_the_old_index(capsys, tiny_beir, tmp_path):
    from pyserini_qpeft.lucene.index import open_searcher

    target = tmp_path / "idx"
    assert cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target)[0] == 0
    corpus = tiny_beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text(encoding="utf-8") + "{not json}\n", encoding="utf-8")
    code, out, err = cli(capsys, "-q", "index", "--beir", tiny_beir, "--index", target, "--overwrite")
    assert_one_line_error(code, err, "index", f"{corpus}:31:")
    assert open_searcher(target).num_docs == 30


def test_index_missing_beir_folder(capsys, tmp_path):
    code, out, err = cli(capsys, "-q", "index", "--beir", tmp_path / "nope", "--index", tmp_path / "idx")
    assert_one_line_error(code, err, "index", tmp_path / "nope", "BEIR folder not found")
    assert files_in(tmp_path) == []
