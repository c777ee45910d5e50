"""One writer per output: the lock refuses a second writer and never outlives a killed one; real processes on one
output, in several orders of start, kill and resume, never give a run that mixes settings (the steps that follow
once no other writer is alive run in the test process)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.lock import lock_path, output_lock

from _cli import cli
from _scripts import one_thread, run_main

# -- the lock itself ---------------------------------------------------------------------------------------------


def test_a_lock_nested_in_one_process_is_free_and_goes_with_the_outer_block(tmp_path):
    out = tmp_path / "out.trec"
    with output_lock(out) as path:
        assert path == tmp_path / "out.trec.lock" and f"pid {os.getpid()}" in path.read_text()
        with output_lock(out) as inner:  # e.g. the CLI holds it, then rerank_run_to_file takes it again
            assert inner == path
        assert path.exists()
    assert os.listdir(tmp_path) == []


def test_ranks_lock_their_own_files_and_rank0_shares_the_single_process_lock(tmp_path):
    out = tmp_path / "out.trec"
    assert lock_path(out, 0, 4) == lock_path(out) == tmp_path / "out.trec.lock"
    assert lock_path(out, 2, 4) == tmp_path / "out.trec.rank2-of-4.lock"


@pytest.mark.parametrize("kind", ["user file", "empty file", "symlink", "folder"])
def test_a_lock_name_taken_by_something_else_is_refused_and_left_alone(tmp_path, kind):
    out = tmp_path / "out.trec"
    taken = tmp_path / "out.trec.lock"
    if kind == "user file":
        taken.write_text("my notes\n")
    elif kind == "empty file":
        taken.write_text("")
    elif kind == "symlink":
        (tmp_path / "target").write_text("keep\n")
        taken.symlink_to(tmp_path / "target")
    else:
        taken.mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError, match="out.trec.lock: exists and is not a pyserini-qpeft lock file"):
        with output_lock(out):
            pass
    assert sorted(os.listdir(tmp_path)) == before
    if kind == "user file":
        assert taken.read_text() == "my notes\n"


def test_another_process_is_refused_by_pid_and_its_lock_taken_over_once_it_is_killed(tmp_path):
    out = tmp_path / "out.trec"
    code = (
        "from pyserini_qpeft.files.lock import output_lock\n"
        f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "    import time; time.sleep(60)\n"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"held\n"
        with pytest.raises(InputError) as error:
            with output_lock(out):
                pass
        lock = tmp_path / "out.trec.lock"
        assert str(error.value) == (
            f"{out}: pid {holder.pid} is writing it (lock {lock}); wait for it to finish, or choose another --output"
        )
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (tmp_path / "out.trec.lock").exists()  # left behind by the kill
    with output_lock(out) as path:
        assert f"pid {os.getpid()}" in path.read_text()
    assert not path.exists()


# -- real processes on one output ------------------------------------------------------------------------------

A = ("--no-fusion",)  # tag qpeft
B = ("--fusion-weight", "0.55")  # tag qpeft-fused0.55


@pytest.fixture(scope="module")
def job(tmp_path_factory, scifact, tiny_model_dir, bm25_scifact_run):
    """Start ``rerank`` in its own process: 40 topics, top 5, one pair per forward pass (slow enough to kill); texts
    from the BEIR corpus (no Java to start in each process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def arguments(out, settings, *extra):
        argv = ["-q", "rerank", "--run", str(bm25_scifact_run), "--beir", str(scifact), "--split", "test"]
        argv += ["--max-queries", "40", "--model", str(tiny_model_dir), "--dtype", "float32", "--max-length", "128"]
        return [*argv, "--depth", "5", "--batch-size", "1", "--output", str(out), *settings, *extra]

    def start(out, settings, *extra):
        argv = [sys.executable, "-m", "pyserini_qpeft", *arguments(out, settings, *extra)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    start.arguments = arguments
    return start


def finish(process, timeout=300):
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err.decode()


def here(capsys, job, out, settings, *extra):
    """The same command in this process, on one torch thread: (exit code, stderr)."""
    with one_thread():
        code, _, err = cli(capsys, *job.arguments(out, settings, *extra))
    return code, err


def kill_after_a_block(process, journal, timeout=120):
    """SIGKILL ``process`` once ``journal`` holds a finished topic (or when it has ended by itself)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if journal.exists() and b"#end " in journal.read_bytes():
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()


def tags(path):
    return {line.split()[5] for line in path.read_text().splitlines()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, job):
    out = tmp_path_factory.mktemp("reference") / "a.trec"
    run_main(*job.arguments(out, A))  # in this process: the subprocesses below must give its bytes
    return out.read_bytes()


def test_two_writers_started_together_one_refused_then_resume_gives_one_settings(tmp_path, job, reference, capsys):
    out = tmp_path / "out.trec"
    first, second = job(out, A), job(out, B)
    (code_a, err_a), (code_b, err_b) = finish(first), finish(second)
    refused = [err for code, err in ((code_a, err_a), (code_b, err_b)) if code != 0]
    for err in refused:  # the later one, unless the first had finished before it looked
        assert len(err.strip().splitlines()) == 1 and "is writing it (lock" in err and "Traceback" not in err, err
    assert len(refused) <= 1 and len(tags(out)) == 1
    assert here(capsys, job, out, A, "--resume")[0] == 0
    assert out.read_bytes() == reference and sorted(os.listdir(tmp_path)) == ["out.trec"]


def test_killed_writer_then_another_settings_resume_is_refused_and_a_fresh_run_starts_over(
    tmp_path, job, reference, capsys
):
    out, journal = tmp_path / "out.trec", tmp_path / "out.trec.journal"
    kill_after_a_block(job(out, A), journal)
    left = journal.read_bytes()
    code, err = here(capsys, job, out, B, "--resume")  # the killed run's lock does not block it; its settings do
    assert code == 1 and "was written with other settings" in err and len(err.strip().splitlines()) == 1, err
    assert journal.read_bytes() == left
    assert here(capsys, job, out, B)[0] == 0 and tags(out) == {"qpeft-fused0.55"}
    assert here(capsys, job, out, A, "--resume")[0] == 0
    assert out.read_bytes() == reference and sorted(os.listdir(tmp_path)) == ["out.trec"]


def test_resume_while_another_writer_runs_is_refused_naming_it_then_both_killed_resume_is_pure(
    tmp_path, job, reference, capsys
):
    out, journal = tmp_path / "out.trec", tmp_path / "out.trec.journal"
    other = job(out, B)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out.trec.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    code, err = here(capsys, job, out, A, "--resume")  # in this process, while B holds the lock
    if other.poll() is None or code == 1:
        assert code == 1 and f"pid {other.pid} is writing it" in err, err
    kill_after_a_block(other, journal)
    code, err = here(capsys, job, out, A, "--resume")
    assert code in (0, 1)
    if code == 1:  # B's journal survived the kill: A refuses it; a fresh A replaces it
        assert "was written with other settings" in err, err
        assert here(capsys, job, out, A)[0] == 0
    assert out.read_bytes() == reference and sorted(os.listdir(tmp_path)) == ["out.trec"]
