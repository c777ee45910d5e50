import pytest

from pyserini_qpeft.cli.main import main
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.journal import RunJournal
from pyserini_qpeft.runs import read_run, write_run

RUN = {"q1": [("a", 3.0), ("b", 2.0)], "q2": [("c", 1.5)], "q3": [("d", 0.5), ("e", 0.25)]}


def test_resume_drops_a_half_written_topic_and_finishes_like_a_straight_run(tmp_path):
    straight = tmp_path / "straight.trec"
    write_run(straight, RUN, "t")
    out = tmp_path / "run.trec"
    journal = RunJournal(out, "t")
    journal.start(resume=False)
    journal.record("q1", RUN["q1"])
    with open(journal.partial, "a") as handle:  # killed while writing q2
        handle.write("q2 Q0 c 1 1.5")
    assert not out.exists()
    again = RunJournal(out, "t")
    assert again.start(resume=True) == 1
    assert again.finished("q1") and not again.finished("q2")
    for qid in ("q2", "q3"):
        again.record(qid, RUN[qid])
    again.finish(list(RUN))
    assert out.read_bytes() == straight.read_bytes()
    assert not journal.partial.exists() and not journal.done_file.exists()


def test_finish_refuses_missing_topics_and_start_without_resume_clears(tmp_path):
    journal = RunJournal(tmp_path / "run.trec", "t")
    journal.start(resume=False)
    journal.record("q1", RUN["q1"])
    with pytest.raises(InputError, match="not finished"):
        journal.finish(list(RUN))
    assert not (tmp_path / "run.trec").exists()
    assert RunJournal(tmp_path / "run.trec", "t").start(resume=False) == 0
    assert not journal.partial.exists()


def test_cli_rerank_resume_equals_uninterrupted(tmp_path, scifact, scifact_index, tiny_model_dir):
    bm25 = tmp_path / "bm25.trec"
    topics = ["--beir", str(scifact), "--split", "test", "--max-queries", "4"]
    assert main(["-q", "search", "--index", str(scifact_index), "--hits", "5", "--output", str(bm25), *topics]) == 0
    rerank = ["-q", "rerank", "--run", str(bm25), "--index", str(scifact_index), "--model", str(tiny_model_dir),
              "--max-length", "256", *topics]
    full = tmp_path / "full.trec"
    assert main([*rerank, "--output", str(full)]) == 0
    # An interrupted run: two topics journaled, then killed mid-topic.
    resumed = tmp_path / "resumed.trec"
    journal = RunJournal(resumed, "qpeft")
    journal.start(resume=False)
    first_two = list(read_run(full).items())[:2]
    for qid, hits in first_two:
        journal.record(qid, hits)
    with open(journal.partial, "a") as handle:
        handle.write("garbage half line")
    assert main([*rerank, "--output", str(resumed), "--resume"]) == 0
    assert resumed.read_bytes() == full.read_bytes()
