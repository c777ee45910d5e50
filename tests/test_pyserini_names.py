"""Pyserini's names for indexes, topics and qrels: found in Pyserini's caches, refused in one line when not there.

The index cache is Pyserini's (``$PYSERINI_CACHE``, pointed at a temporary folder); topics and qrels live in
Anserini's cache under Java's ``user.home``, which only a fresh JVM can be pointed elsewhere
(``JAVA_TOOL_OPTIONS=-Duser.home=...``), so the test that finds them runs in a subprocess.
"""

import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.lucene.names import could_be_name, index_path
from pyserini_qpeft.runs.trec import read_run

from _cli import assert_one_line_error, cli
from conftest import REPO_ROOT, read_beir_qrels, read_jsonl

INDEX = "beir-v1.0.0-scifact.flat"
TOPICS = "beir-v1.0.0-scifact-test"  # also the qrels' name, as in Pyserini


def registry_entry(name=INDEX):
    from pyserini_qpeft.lucene.java import start_jvm

    start_jvm()
    from pyserini.prebuilt_index_info import TF_INDEX_INFO

    return TF_INDEX_INFO[name]


def cache_folder(cache, name=INDEX):
    """Where Pyserini puts the prebuilt index ``name`` in ``cache`` (worked out here from its registry entry)."""
    info = registry_entry(name)
    tarball = info.get("filename") or info["urls"][0].split("/")[-1]
    return Path(cache) / "indexes" / f"{tarball.removesuffix('.tar.gz')}.{info['md5']}"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "pyserini-cache"
    monkeypatch.setenv("PYSERINI_CACHE", str(cache))
    return cache


@pytest.fixture
def cached_index(empty_cache, scifact_index):
    """Our scifact index placed where Pyserini keeps ``beir-v1.0.0-scifact.flat``, as Pyserini itself sees it."""
    from pyserini.util import check_downloaded

    folder = cache_folder(empty_cache)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(scifact_index, target_is_directory=True)
    assert check_downloaded(INDEX)
    return folder


@pytest.mark.parametrize(
    "value, name",
    [
        (INDEX, True),
        ("dl19-passage", True),
        ("msmarco-v1-passage.dev", True),
        ("topics.tsv", False),
        ("qrels/test.tsv", False),
        ("./idx", False),
        ("~/idx", False),
        ("run.trec.gz", False),
    ],
)
def test_could_be_name(value, name):
    assert could_be_name(value) is name


def test_search_with_a_cached_prebuilt_index_equals_the_local_index(
    capsys, cached_index, scifact, scifact_index, tmp_path
):
    by_name, by_path = tmp_path / "name.trec", tmp_path / "path.trec"
    common = ["--beir", scifact, "--split", "test", "--hits", "10", "--max-queries", "20"]
    assert cli(capsys, "-q", "search", "--index", INDEX, *common, "--output", by_name)[0] == 0
    assert cli(capsys, "-q", "search", "--index", scifact_index, *common, "--output", by_path)[0] == 0
    assert by_name.read_text() == by_path.read_text()
    assert len(read_run(by_name)) == 20


def test_uncached_prebuilt_index_fails_fast_in_one_line(capsys, empty_cache, scifact, tmp_path):
    output = tmp_path / "run.trec"
    url = registry_entry()["urls"][0]
    start = time.perf_counter()
    code, out, err = cli(capsys, "-q", "search", "--index", INDEX, "--beir", scifact, "--output", output)
    elapsed = time.perf_counter() - start
    assert_one_line_error(code, err, "search", f"--index {INDEX}", "not in its cache", cache_folder(empty_cache), url)
    assert elapsed < 10, elapsed
    assert not output.exists() and not empty_cache.exists()  # nothing downloaded, nothing created


def test_python_api_opens_prebuilt_names(cached_index, empty_cache):
    from pyserini_qpeft.lucene.index import document_text, open_searcher

    searcher = open_searcher(INDEX)
    hits = searcher.search("0-dimensional biomaterials show inductive properties.", k=3)
    assert len(hits) == 3 and document_text(searcher, hits[0].docid)
    assert index_path(INDEX) == cached_index


def test_python_api_uncached_name_raises(empty_cache):
    from pyserini_qpeft.lucene.index import open_searcher

    with pytest.raises(InputError, match=rf"^index {INDEX}: Pyserini's prebuilt index is not in its cache"):
        open_searcher(INDEX)


def test_local_folder_of_the_same_name_wins(capsys, caplog, empty_cache, scifact, scifact_index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / INDEX).symlink_to(scifact_index, target_is_directory=True)
    caplog.set_level("INFO", logger="pyserini_qpeft")
    assert index_path(INDEX, what="--index") == Path(INDEX)
    assert [r.getMessage() for r in caplog.records if "not Pyserini's prebuilt index" in r.getMessage()] == [
        f"--index {INDEX}: the local folder {INDEX}, not Pyserini's prebuilt index of that name"
    ]
    code, _, _ = cli(
        capsys, "-q", "search", "--index", INDEX, "--beir", scifact, "--max-queries", "2", "--output", "r.trec"
    )
    assert code == 0 and len(read_run(tmp_path / "r.trec")) == 2


def test_dense_index_name_is_refused(capsys, empty_cache, scifact, tmp_path):
    from pyserini.prebuilt_index_info import LUCENE_HNSW_INDEX_INFO

    name = next(iter(LUCENE_HNSW_INDEX_INFO))
    code, _, err = cli(capsys, "-q", "search", "--index", name, "--beir", scifact, "--output", tmp_path / "r.trec")
    assert_one_line_error(code, err, "search", name, "dense (HNSW)", "bag-of-words")


def _anserini_cache_has(filename):
    from pyserini.search._base import JPath, JRelevanceJudgments

    return Path(JRelevanceJudgments.getNewQrelAbsPath(JPath.of(filename)).toString()).exists()


def test_uncached_topics_and_qrels_names_fail_fast_in_one_line(capsys, scifact_index, bm25_scifact_run, tmp_path):
    registry_entry()  # starts the JVM
    if _anserini_cache_has("topics.beir-v1.0.0-scifact.test.tsv.gz") or _anserini_cache_has(
        "qrels.beir-v1.0.0-scifact.test.txt"
    ):
        pytest.skip("this machine's Anserini cache holds the scifact topics or qrels")
    output = tmp_path / "run.trec"
    start = time.perf_counter()
    code, _, err = cli(capsys, "-q", "search", "--index", scifact_index, "--topics", TOPICS, "--output", output)
    assert_one_line_error(
        code,
        err,
        "search",
        f"--topics {TOPICS}",
        "not in its cache",
        "topics.beir-v1.0.0-scifact.test.tsv.gz",
        "https://raw.githubusercontent.com/castorini/anserini-tools/master/topics-and-qrels/",
        "--topics FILE",
    )
    code, _, err = cli(capsys, "evaluate", "--run", bm25_scifact_run, "--qrels", TOPICS)
    assert_one_line_error(code, err, "evaluate", f"--qrels {TOPICS}", "not in its cache", "--qrels FILE")
    assert time.perf_counter() - start < 10
    assert not output.exists()


def test_unknown_topics_name_suggests_close_ones(capsys, scifact_index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(
        capsys, "-q", "search", "--index", scifact_index, "--topics", "beir-v1.0.0-scifact-tset", "--output", "r.trec"
    )
    assert_one_line_error(code, err, "search", "not one of Pyserini's topics names", "did you mean", TOPICS)


def test_yaml_uncached_index_name_names_the_line(empty_cache, tmp_path):
    from pyserini_qpeft.cli.pipeline_file import load_pipeline_config

    config = tmp_path / "p.yaml"
    config.write_text(f"index:\n  path: {INDEX}\ntopics:\n  file: topics.tsv\noutput:\n  run: r.trec\n")
    (tmp_path / "topics.tsv").write_text("1\tquery\n")
    with pytest.raises(InputError, match=rf"^{config}:2: index.path {INDEX}: Pyserini's prebuilt index is not in"):
        load_pipeline_config(config)


def test_yaml_never_rebuilds_a_prebuilt_index(cached_index, tmp_path, scifact):
    from pyserini_qpeft.cli.pipeline_file import load_pipeline_config

    config = tmp_path / "p.yaml"
    config.write_text(f"collection: {{beir: {scifact}}}\nindex: {{path: {INDEX}, build: always}}\noutput: {{run: r}}\n")
    with pytest.raises(InputError, match=r"p.yaml:2: index.build: 'always' would rebuild Pyserini's prebuilt index"):
        load_pipeline_config(config)


def write_anserini_topics_and_qrels(folder, scifact):
    """Anserini's scifact test topics and qrels files, made from the BEIR folder (what Pyserini would download)."""
    folder.mkdir(parents=True)
    qrels = read_beir_qrels(scifact / "qrels" / "test.tsv")
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(scifact / "queries.jsonl")}
    with gzip.open(folder / "topics.beir-v1.0.0-scifact.test.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(f"{qid}\t{queries[qid]}\n" for qid in qrels)
    with open(folder / "qrels.beir-v1.0.0-scifact.test.txt", "w", encoding="utf-8") as handle:
        handle.writelines(f"{qid} 0 {docid} {rel}\n" for qid, docs in qrels.items() for docid, rel in docs.items())
    return qrels


NAMES_SCRIPT = """
import contextlib, io, json, sys
from pathlib import Path
from pyserini_qpeft.cli.main import main
from pyserini_qpeft.lucene.index import open_searcher
from pyserini_qpeft.lucene.names import read_qrels, read_topics

out = Path(sys.argv[1])
topics, qrels = read_topics("{topics}"), read_qrels("{topics}")
searcher = open_searcher("{index}")
hits = searcher.search(topics["1"], k=5)
print(json.dumps({{"topics": len(topics), "qrels": len(qrels), "first": list(topics)[:3], "hits": len(hits)}}))
search = ["-q", "search", "--index", "{index}", "--topics", "{topics}", "--hits", "100"]
assert main([*search, "--output", str(out / "names.trec")]) == 0
with contextlib.redirect_stdout(io.StringIO()) as printed:
    assert main(["evaluate", "--run", str(out / "names.trec"), "--qrels", "{topics}", "--json"]) == 0
(out / "evaluate.json").write_text(printed.getvalue())
assert main(["-q", "pipeline", str(out / "p.yaml")]) == 0
"""


def test_names_from_pyserini_caches_in_cli_yaml_and_python(scifact, scifact_index, bm25_scifact_run, tmp_path):
    """Index, topics and qrels all by name, found in Pyserini's caches (temporary ones), with no network."""
    cache, home = tmp_path / "cache", tmp_path / "home"
    folder = cache_folder(cache)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(scifact_index, target_is_directory=True)
    qrels = write_anserini_topics_and_qrels(home / ".cache" / "pyserini" / "topics-and-qrels", scifact)
    (tmp_path / "p.yaml").write_text(
        f"index: {{path: {INDEX}}}\ntopics: {{file: {TOPICS}, max_queries: 30}}\nfirst_stage: {{hits: 100}}\n"
        f"output: {{run: pipeline.trec}}\nevaluation: {{qrels: {TOPICS}, metrics: [nDCG@10]}}\n"
    )
    env = {
        **os.environ,
        "PYSERINI_CACHE": str(cache),
        "JAVA_TOOL_OPTIONS": f"-Duser.home={home}",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    script = textwrap.dedent(NAMES_SCRIPT.format(index=INDEX, topics=TOPICS))
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.splitlines()[0])
    assert facts == {"topics": len(qrels), "qrels": len(qrels), "first": ["1", "3", "5"], "hits": 5}
    # The run by names is the run of `search --index DIR --beir DIR --split test`, query for query.
    assert read_run(tmp_path / "names.trec") == read_run(bm25_scifact_run)
    evaluated = json.loads((tmp_path / "evaluate.json").read_text())
    assert evaluated["queries"] == len(qrels) and evaluated["metrics"]["nDCG@10"] > 0.6
    assert len(read_run(tmp_path / "pipeline.trec")) == 30
    assert "nDCG@10" in json.loads((tmp_path / "pipeline.trec.metrics.json").read_text())["metrics"]["bm25"]
