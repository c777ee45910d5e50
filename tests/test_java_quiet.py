"""Java stays quiet through the CLI: no JVM or Lucene warnings on stderr, yet real Java errors still reach the user."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# What the JVM, Lucene and Anserini printed before (see java.jvm_options and java.configure_java_logging).
JAVA_NOISE = (
    "WARNING: Using incubator modules",
    "MMapDirectory",
    "sun.misc.Unsafe",
    "restricted method",
    "VectorizationProvider",
    "Vector API",
)


def cli(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "pyserini_qpeft", *map(str, args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_tiny_beir(folder: Path) -> Path:
    docs = [
        ("d1", "Vitamin D", "Vitamin D deficiency is linked to bone loss."),
        ("d2", "Malaria", "Malaria is spread by mosquitoes."),
        ("d3", "Insulin", "Insulin regulates blood sugar."),
        ("d4", "Sleep", "Sleep loss impairs memory."),
    ]
    queries = [("q1", "what causes bone loss"), ("q2", "how is malaria spread")]
    folder.mkdir(parents=True)
    corpus = [{"_id": i, "title": t, "text": x} for i, t, x in docs]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(record) + "\n" for record in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": x}) + "\n" for i, x in queries))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny BEIR folder and its index, built with ``-q index`` (whose result the tests check)."""
    root = tmp_path_factory.mktemp("quiet")
    beir = write_tiny_beir(root / "beir")
    result = cli("-q", "index", "--beir", beir, "--index", root / "index")
    return beir, root / "index", result


def test_quiet_index_and_search_print_nothing(tiny, tmp_path):
    beir, index, indexed = tiny
    assert indexed.returncode == 0, indexed.stderr
    assert (indexed.stdout, indexed.stderr) == ("", "")
    run = tmp_path / "run.trec"
    searched = cli("-q", "search", "--index", index, "--beir", beir, "--split", "test", "--hits", 3, "--output", run)
    assert searched.returncode == 0, searched.stderr
    assert (searched.stdout, searched.stderr) == ("", "")
    assert run.read_text().split()[:3] == ["q1", "Q0", "d1"]


def test_search_at_info_has_no_java_noise(tiny, tmp_path):
    """The CLI's default level keeps our INFO lines but none of Java's known-harmless warnings."""
    beir, index, _ = tiny
    run = tmp_path / "run.trec"
    result = cli("search", "--index", index, "--beir", beir, "--split", "test", "--hits", 3, "--output", run)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "started Java" in result.stderr
    assert [line for line in result.stderr.splitlines() if any(noise in line for noise in JAVA_NOISE)] == []


def test_corrupt_index_java_error_reaches_user(tmp_path):
    beir = write_tiny_beir(tmp_path / "beir")
    index = tmp_path / "bad-index"
    index.mkdir()
    (index / "segments_1").write_bytes(b"not a Lucene segments file\n")
    result = cli("-q", "search", "--index", index, "--beir", beir, "--split", "test", "--output", tmp_path / "run.trec")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pyserini-qpeft search: error: ")
    assert "org.apache.lucene.index." in lines[0] and str(index) in lines[0]  # Lucene's own exception, named
    assert not (tmp_path / "run.trec").exists()
