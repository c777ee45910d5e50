import errno
import os

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.atomic import atomic_directory, atomic_write
from pyserini_qpeft.runs.trec import format_run_lines, read_run, write_run

RUN = {
    "q1": [("d3", 12.5), ("d1", 7.25), ("d2", -1.0)],
    "q2": [("d9", 0.123456)],
}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_round_trip(tmp_path):
    path = tmp_path / "run.trec"
    write_run(path, RUN, "bm25")
    assert read_run(path) == RUN
    assert leftovers(tmp_path) == []


def test_written_lines(tmp_path):
    path = tmp_path / "run.trec"
    write_run(path, RUN, "tag")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "q1 Q0 d3 1 12.500000 tag",
        "q1 Q0 d1 2 7.250000 tag",
        "q1 Q0 d2 3 -1.000000 tag",
        "q2 Q0 d9 1 0.123456 tag",
    ]


def test_write_from_pairs_and_nested_folder(tmp_path):
    """write_run accepts (qid, hits) pairs and creates missing parent folders."""
    path = tmp_path / "a" / "b" / "run.trec"
    write_run(path, iter(RUN.items()), "x")
    assert read_run(path) == RUN


def test_format_run_lines_ranks_from_one():
    lines = format_run_lines("q", [("a", 2.0), ("b", 1.0)], "t")
    assert lines == ["q Q0 a 1 2.000000 t\n", "q Q0 b 2 1.000000 t\n"]


def test_read_orders_by_rank_not_file_order(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text(
        "q1 Q0 c 3 1.0 t\nq2 Q0 z 2 5.0 t\nq1 Q0 a 1 3.0 t\n\nq2 Q0 y 1 9.0 t\nq1 Q0 b 2 2.0 t\n",
        encoding="utf-8",
    )
    assert read_run(path) == {"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)], "q2": [("y", 9.0), ("z", 5.0)]}


def test_read_orders_rank_ties_by_score(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 low 1 1.0 t\nq1 Q0 high 1 2.0 t\nq1 Q0 last 2 0.5 t\n", encoding="utf-8")
    assert [d for d, _ in read_run(path)["q1"]] == ["high", "low", "last"]


def test_read_orders_by_score_when_ranks_disagree_and_warns_once(tmp_path, caplog):
    """trec_eval's rule, as evaluate uses it: score descending, ties by docid descending, whatever the ranks say."""
    path = tmp_path / "run.trec"
    path.write_text(
        "q1 Q0 a 1 0.5 t\nq1 Q0 b 2 0.9 t\nq2 Q0 x 1 0.1 t\nq2 Q0 y 2 0.2 t\nq3 Q0 m 2 1.0 t\nq3 Q0 n 1 1.0 t\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="pyserini_qpeft.runs.trec"):
        run = read_run(path)
    assert run == {"q1": [("b", 0.9), ("a", 0.5)], "q2": [("y", 0.2), ("x", 0.1)], "q3": [("n", 1.0), ("m", 1.0)]}
    [record] = caplog.records
    assert "rank column disagrees with the scores (query q1: line 1 ranks a at 1, above b on line 2" in record.message


def test_reversed_rank_column_gives_the_order_evaluate_uses(tmp_path, caplog):
    """A run whose rank column is reversed: every reader (and so the rerank depth cut) sees trec_eval's order."""
    from pyserini_qpeft.runs.evaluation import evaluate

    hits = [(f"d{i}", 10.0 - i) for i in range(10)]
    path = tmp_path / "reversed.trec"
    path.write_text("".join(f"q Q0 {d} {10 - i} {s} t\n" for i, (d, s) in enumerate(hits)), encoding="utf-8")
    assert read_run(path)["q"] == hits
    assert "rank column disagrees" in caplog.text
    qrels = {"q": {"d0": 1}}
    assert evaluate(read_run(path), qrels, ["MRR@1"]) == evaluate({"q": hits}, qrels, ["MRR@1"]) == {"MRR@1": 1.0}


def test_consistent_ranks_and_score_ties_do_not_warn(tmp_path, caplog):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 a 1 2.0 t\nq1 Q0 b 2 1.0 t\nq1 Q0 c 3 1.0 t\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        assert read_run(path)["q1"] == [("a", 2.0), ("c", 1.0), ("b", 1.0)]  # ties: docid descending
    assert caplog.records == []


@pytest.mark.parametrize(
    "bad, words",
    [
        ("q1 Q0 d2 2 1.0\n", "expected 6 fields"),
        ("q1 Q0 d2 2 1.0 tag extra\n", "got 7"),
        ("q1 Q0 d2 2 high tag\n", "score 'high'"),
        ("q1 Q0 d2 two 1.0 tag\n", "rank 'two'"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, bad, words):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 d1 1 2.0 tag\n\n" + bad, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_run(path)
    assert f"{path}:3:" in str(info.value)
    assert words in str(info.value)


def test_missing_and_empty_run(tmp_path):
    with pytest.raises(InputError) as info:
        read_run(tmp_path / "nope.trec")
    assert "nope.trec" in str(info.value) and "not found" in str(info.value)
    empty = tmp_path / "empty.trec"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(InputError, match="no run lines"):
        read_run(empty)


@pytest.mark.parametrize("tag", ["my run", ""])
def test_write_run_never_writes_an_unreadable_file(tmp_path, tag):
    path = tmp_path / "run.trec"
    try:
        write_run(path, RUN, tag)
    except InputError:
        assert not path.exists()
    else:
        assert read_run(path) == RUN


# --- atomic writes ----------------------------------------------------------------------------


def test_atomic_write_error_leaves_nothing(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as handle:
            handle.write("partial")
            raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_error_keeps_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path) as handle:
            handle.write("new")
            raise KeyboardInterrupt
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_success(tmp_path):
    path = tmp_path / "out.txt"
    with atomic_write(path) as handle:
        handle.write("héllo")
        assert not path.exists()  # only visible once complete
    assert path.read_text(encoding="utf-8") == "héllo"
    with atomic_write(path, "wb") as handle:
        handle.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_write_run_error_leaves_nothing(tmp_path):
    def hits():
        yield "q1", [("d1", 1.0)]
        raise RuntimeError("generator failed")

    path = tmp_path / "run.trec"
    with pytest.raises(RuntimeError):
        write_run(path, hits(), "t")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory(tmp_path):
    target = tmp_path / "idx"
    with pytest.raises(ValueError):
        with atomic_directory(target) as tmp:
            (tmp / "file").write_text("x")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        (tmp / "file").write_text("x")
    assert (target / "file").read_text() == "x"
    assert os.listdir(tmp_path) == ["idx"]


def test_run_listing_a_document_twice_for_one_query_is_refused(tmp_path):
    path = tmp_path / "run.trec"
    path.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d1 1 1.0 t\nq1 Q0 d1 3 0.5 t\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"run.trec:4: document 'd1' is listed twice for query 'q1' \(first on line 1\)"
    ):
        read_run(path)


def test_run_with_a_byte_order_mark_reads_the_first_qid_clean(tmp_path):
    path = tmp_path / "run.trec"
    path.write_bytes("\ufeffq1 Q0 d1 1 2.0 t\n".encode("utf-8"))
    assert read_run(path) == {"q1": [("d1", 2.0)]}


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")  # what write() and fsync() raise: no file name


@pytest.mark.parametrize("where", ["fsync", "write"])
def test_a_full_disk_names_the_file_being_written(tmp_path, monkeypatch, where):
    from pyserini_qpeft.files import atomic

    path = tmp_path / "out" / "run.trec"
    if where == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", _no_space)
    with pytest.raises(OSError) as error:
        with atomic_write(path) as handle:
            if where == "write":
                _no_space()
            handle.write("x")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert str(error.value) == f"[Errno {errno.ENOSPC}] No space left on device: '{path}'"
    assert os.listdir(tmp_path) == []  # the folder it made is gone again, and no temporary file is left


def test_a_full_disk_in_a_staged_folder_names_the_folder(tmp_path):
    with pytest.raises(OSError) as error:
        with atomic_directory(tmp_path / "ckpt"):
            _no_space()
    assert error.value.filename == str(tmp_path / "ckpt") and os.listdir(tmp_path) == []


def test_an_os_error_that_names_its_file_is_left_alone(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        with atomic_write(tmp_path / "out.txt"):
            open(tmp_path / "missing.txt")
    assert error.value.filename == str(tmp_path / "missing.txt")


def test_a_full_disk_while_journaling_names_the_journal(tmp_path, monkeypatch):
    from pyserini_qpeft.runs import journal as journal_module

    journal = journal_module.RunJournal(tmp_path / "run.trec", "tag")
    journal.start(resume=False)
    try:
        monkeypatch.setattr(journal_module.os, "write", _no_space)
        with pytest.raises(OSError) as error:
            journal.record("q1", [("d1", 1.0)])
    finally:
        monkeypatch.undo()
        journal.close()
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(journal.path)
