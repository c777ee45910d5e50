"""The resumable run journal: crash-consistent at every byte, and refusing other settings on resume."""

import logging
import os

import pytest

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs import journal as journal_module
from pyserini_qpeft.runs.journal import RunJournal
from pyserini_qpeft.runs.trec import write_run

RUN = {"q1": [("a", 3.0), ("b", 2.0)], "q2": [("c", 1.5)], "q3": [("d", 0.5), ("e", 0.25)], "q4": []}
SETTINGS = {"model": "m", "depth": 20, "source_run": "abc"}


def straight_run(tmp_path):
    path = tmp_path / "straight.trec"
    write_run(path, RUN, "t")
    return path.read_bytes()


def full_journal_bytes(tmp_path):
    journal = RunJournal(tmp_path / "full" / "run.trec", "t", SETTINGS)
    journal.start(resume=False)
    for qid, hits in RUN.items():
        journal.record(qid, hits)
    return journal.path.read_bytes()


def resume_and_finish(out, expected_kept=None):
    journal = RunJournal(out, "t", SETTINGS)
    kept = journal.start(resume=True)
    if expected_kept is not None:
        assert kept == expected_kept
    for qid, hits in RUN.items():
        if not journal.finished(qid):
            journal.record(qid, hits)
    journal.finish(list(RUN))
    return kept


def test_journal_kill_at_every_byte_resumes_to_the_straight_run(tmp_path):
    """A kill during any append leaves a prefix of the journal; every prefix resumes to identical bytes."""
    expected = straight_run(tmp_path)
    data = full_journal_bytes(tmp_path)
    header = data.index(b"\n") + 1
    out = tmp_path / "run.trec"
    kept_counts = set()
    for cut in range(header, len(data) + 1):
        out.unlink(missing_ok=True)
        out.with_name("run.trec.journal").write_bytes(data[:cut])
        kept_counts.add(resume_and_finish(out))
        assert out.read_bytes() == expected, cut
        assert not out.with_name("run.trec.journal").exists()
    assert kept_counts == {0, 1, 2, 3, 4}


def test_journal_garbage_or_corrupted_block_is_dropped_not_duplicated(tmp_path):
    expected = straight_run(tmp_path)
    data = full_journal_bytes(tmp_path)
    lines = data.decode().splitlines(keepends=True)
    out = tmp_path / "run.trec"
    journal_path = out.with_name("run.trec.journal")
    # q1's block, then q2's lines with a footer whose checksum is wrong (a torn or altered block).
    q2_footer = next(i for i, line in enumerate(lines) if line.startswith("#end q2"))
    tampered = lines[:q2_footer] + [lines[q2_footer].replace(lines[q2_footer].split()[-1], "0" * 64)]
    for junk in (
        "".join(lines[:4]) + "garbage half line",
        "".join(tampered),
        "".join(lines[:4]) + "\x00\xff\n#end q9 1 x\n",
    ):
        out.unlink(missing_ok=True)
        journal_path.write_text(junk, encoding="utf-8", errors="surrogateescape")
        assert resume_and_finish(out, expected_kept=1) == 1
        assert out.read_bytes() == expected


def test_journal_tampered_block_is_dropped_with_a_log_line(tmp_path, caplog):
    data = full_journal_bytes(tmp_path)
    out = tmp_path / "run.trec"
    out.with_name("run.trec.journal").write_bytes(data.replace(b" a 1 3.000000 t", b" z 1 3.000000 t"))
    with caplog.at_level(logging.WARNING, logger="pyserini_qpeft.runs.journal"):
        assert resume_and_finish(out, expected_kept=0) == 0
    [record] = caplog.records
    dropped = len(data) - data.index(b"\n") - 1  # every block after the header: the first is the tampered one
    assert f"{out}.journal: dropped its last {dropped} bytes" in record.getMessage()
    assert out.read_bytes() == straight_run(tmp_path)


def test_journal_block_written_under_other_settings_is_not_accepted(tmp_path):
    """Blocks appended by a run with other settings after it replaced the journal, then the header put back:
    each block carries a digest of the settings line it was computed under, so none of them counts."""
    out = tmp_path / "run.trec"
    other = RunJournal(out, "t", {**SETTINGS, "fusion_weight": 0.55})
    other.start(resume=False)
    other.record("q1", [("x", 9.0)])
    other.close()
    ours = RunJournal(out, "t", SETTINGS)
    data = out.with_name("run.trec.journal").read_bytes()
    out.with_name("run.trec.journal").write_bytes(ours.header + data.split(b"\n", 1)[1])
    assert resume_and_finish(out, expected_kept=0) == 0
    assert out.read_bytes() == straight_run(tmp_path)


def test_journal_appends_through_its_own_descriptor_when_the_path_is_replaced(tmp_path):
    out = tmp_path / "run.trec"
    journal = RunJournal(out, "t", SETTINGS)
    journal.start(resume=False)
    journal.record("q1", RUN["q1"])
    mine = out.with_name("run.trec.journal")
    os.replace(mine, tmp_path / "moved.journal")
    mine.write_text("another writer's file\n")
    journal.record("q2", RUN["q2"])
    journal.close()
    assert mine.read_text() == "another writer's file\n"
    assert (tmp_path / "moved.journal").read_bytes().count(b"#end ") == 2


def test_journal_kill_after_the_final_rename_still_resumes_to_the_same_file(tmp_path):
    expected = straight_run(tmp_path)
    out = tmp_path / "run.trec"
    out.with_name("run.trec.journal").write_bytes(full_journal_bytes(tmp_path))
    out.write_bytes(expected)  # renamed into place, killed before the journal was removed
    assert resume_and_finish(out, expected_kept=4) == 4
    assert out.read_bytes() == expected


def test_journal_resume_refuses_other_settings(tmp_path):
    out = tmp_path / "run.trec"
    journal = RunJournal(out, "t", SETTINGS)
    journal.start(resume=False)
    journal.record("q1", RUN["q1"])
    for tag, settings in (
        ("t", {**SETTINGS, "depth": 50}),
        ("t", {**SETTINGS, "model": "other"}),
        ("other", SETTINGS),
        ("t", {**SETTINGS, "source_run": "def"}),
    ):
        with pytest.raises(InputError, match="other settings") as error:
            RunJournal(out, tag, settings).start(resume=True)
        assert "\n" not in str(error.value)
    assert RunJournal(out, "t", SETTINGS).start(resume=True) == 1  # untouched by the refusals


def test_journal_refuses_a_file_that_is_not_a_journal(tmp_path):
    out = tmp_path / "run.trec"
    user_file = out.with_name("run.trec.journal")
    user_file.write_text("my own notes\n")
    for resume in (False, True):
        with pytest.raises(InputError, match="not a pyserini-qpeft journal"):
            RunJournal(out, "t", SETTINGS).start(resume=resume)
    assert user_file.read_text() == "my own notes\n"


def test_journal_finish_refuses_missing_topics_and_start_without_resume_starts_over(tmp_path):
    out = tmp_path / "run.trec"
    journal = RunJournal(out, "t", SETTINGS)
    journal.start(resume=False)
    journal.record("q1", RUN["q1"])
    with pytest.raises(InputError, match="not finished"):
        journal.finish(list(RUN))
    assert not out.exists()
    with pytest.raises(InputError, match="already journaled"):
        journal.record("q1", RUN["q1"])
    assert RunJournal(out, "t", SETTINGS).start(resume=False) == 0
    assert RunJournal(out, "t", SETTINGS).start(resume=True) == 0


def test_journal_resume_without_a_journal_starts_fresh(tmp_path):
    expected = straight_run(tmp_path)
    out = tmp_path / "run.trec"
    assert resume_and_finish(out, expected_kept=0) == 0
    assert out.read_bytes() == expected


def test_cli_rerank_killed_mid_write_resumes_byte_identical_and_refuses_other_settings(
    tmp_path, scifact, scifact_index, tiny_model_dir, monkeypatch, capsys
):
    bm25 = tmp_path / "bm25.trec"
    topics = ["--beir", str(scifact), "--split", "test", "--max-queries", "4"]
    assert main(["-q", "search", "--index", str(scifact_index), "--hits", "5", "--output", str(bm25), *topics]) == 0
    rerank = [
        "-q",
        "rerank",
        "--run",
        str(bm25),
        "--index",
        str(scifact_index),
        "--model",
        str(tiny_model_dir),
        "--max-length",
        "256",
        *topics,
    ]
    full = tmp_path / "full.trec"
    assert main([*rerank, "--output", str(full)]) == 0

    # Killed while appending the third topic: half its block reaches the disk.
    calls = {"n": 0}
    real_write = os.write

    def dying_write(fd, data):
        calls["n"] += 1
        if calls["n"] == 3:
            real_write(fd, data[: len(data) // 2])
            raise KeyboardInterrupt
        return real_write(fd, data)

    resumed = tmp_path / "resumed.trec"
    monkeypatch.setattr(journal_module.os, "write", dying_write)
    assert main([*rerank, "--output", str(resumed)]) == 130
    monkeypatch.setattr(journal_module.os, "write", real_write)
    assert not resumed.exists()
    capsys.readouterr()
    # Other settings are refused with one line, and the journal survives the refusal.
    assert main([*rerank, "--output", str(resumed), "--resume", "--depth", "3"]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "depth" in err and len(err.strip().splitlines()) == 1
    assert main([*rerank, "--output", str(resumed), "--resume", "--batch-size", "7"]) == 1  # padding moves scores
    err = capsys.readouterr().err
    assert "batching" in err and "'batch_size': 7" in err and len(err.strip().splitlines()) == 1
    assert main([*rerank, "--output", str(resumed), "--resume"]) == 0
    assert resumed.read_bytes() == full.read_bytes()
