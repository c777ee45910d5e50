"""pyserini_qpeft.files.lines: every line-oriented reader has a bounded line length (a file with no newline fails at
once, naming file:line, without being read into memory)."""

import json
import os
import subprocess
import sys

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.lines import MAX_LINE_BYTES, MAX_RECORD_BYTES, raw_lines, text_lines

THREE_GB = 3 * 2**30


def sparse(path, size=THREE_GB):
    """A file of ``size`` zero bytes and no newline, taking no disk space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.truncate(path, size)
    return path


def sparse_beir(root, which):
    """A BEIR folder whose ``which`` file (corpus.jsonl or queries.jsonl) is a 3 GB line; the other is valid."""
    root.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        (root / name).write_text(json.dumps({"_id": "1", "text": "x"}) + "\n")
    sparse(root / which)
    return root


def _readers(tmp_path):
    from pyserini_qpeft.runs.beir import iter_corpus, load_qrels, load_queries, load_topics
    from pyserini_qpeft.runs.trec import read_run

    return {
        "run": (read_run, sparse(tmp_path / "run.trec"), MAX_LINE_BYTES),
        "qrels": (load_qrels, sparse(tmp_path / "qrels.txt"), MAX_LINE_BYTES),
        "topics": (load_topics, sparse(tmp_path / "topics.tsv"), MAX_LINE_BYTES),
        "corpus": (lambda p: list(iter_corpus(p)), sparse_beir(tmp_path / "c", "corpus.jsonl"), MAX_RECORD_BYTES),
        "queries": (load_queries, sparse_beir(tmp_path / "q", "queries.jsonl"), MAX_RECORD_BYTES),
    }


@pytest.mark.parametrize("reader", ["run", "qrels", "topics", "corpus", "queries"])
def test_each_reader_refuses_a_3gb_line_naming_file_and_line(tmp_path, reader):
    read, path, limit = _readers(tmp_path)[reader]
    with pytest.raises(InputError) as error:
        read(path)
    message = str(error.value)
    named = path if path.is_file() else path / f"{reader if reader == 'queries' else 'corpus'}.jsonl"
    assert message.startswith(f"{named}:1: line longer than {limit >> 20} MiB"), message
    assert len(message.splitlines()) == 1


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak RSS from /proc (Linux)")
def test_peak_memory_stays_bounded_on_3gb_files_without_a_newline(tmp_path):
    """Each reader in a fresh process: the peak RSS grows by far less than the file (a whole read would be 3 GB).

    The peak is the process's own (VmHWM): getrusage's ru_maxrss would start at the forking pytest's peak."""
    paths = {name: str(path) for name, (_, path, _) in _readers(tmp_path).items()}
    script = f"""
import sys
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs.beir import iter_corpus, load_qrels, load_queries, load_topics
from pyserini_qpeft.runs.trec import read_run
paths = {paths!r}
readers = {{"run": read_run, "qrels": load_qrels, "topics": load_topics,
           "corpus": lambda p: list(iter_corpus(p)), "queries": load_queries}}
def peak():  # KiB
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
for name, read in readers.items():
    before = peak()
    try:
        read(paths[name])
        sys.exit(name + " read the file")
    except InputError:
        pass
    print(name, (peak() - before) // 1024)  # MiB
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    growth = {name: int(mib) for name, mib in (line.split() for line in done.stdout.splitlines())}
    assert set(growth) == set(paths)
    assert all(mib < 200 for mib in growth.values()), growth
    assert growth["corpus"] >= 64  # the measure sees a 64 MiB read, so it would see a 3 GB one


def test_a_line_at_the_limit_is_read_and_one_byte_more_is_refused(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes(b"x" * 9 + b"\n" + b"y" * 10 + b"\n" + b"z" * 10)
    assert [len(line) for _, line in raw_lines(path, limit=10)] == [10, 11, 10]  # the newline is not counted
    path.write_bytes(b"x" * 9 + b"\n" + b"y" * 11 + b"\n")
    with pytest.raises(InputError, match=r"lines.txt:2: line longer than 10 bytes"):
        list(raw_lines(path, limit=10))


def test_text_lines_drops_a_byte_order_mark_splits_on_newline_only_and_names_bad_utf8(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffq1\ta\u0085b\r\n".encode() + b"q2\t\xff\n")
    lines = text_lines(path)
    assert next(lines) == (1, "q1\ta\u0085b\r\n")
    with pytest.raises(InputError, match=r"t.tsv:2: not UTF-8 text"):
        next(lines)
