"""Shared fixtures: paths to the shared data, tiny BEIR folders, a session-wide scifact index and its BM25 run.

Model fixtures live with the model tests; keep this file to data and index fixtures (and the CPU every test
sees, for ``--dtype auto``).
"""

import csv
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

TINY_DOCS = 30  # documents in the tiny_beir corpus
TINY_QUERIES = 10  # test queries whose judged documents are put in the tiny corpus


# The files that take most of the suite's time (real processes, the real model), longest first. They run before
# the rest, so that under `pytest -n 2 --dist loadfile` one worker starts on the longest while the other works
# through the short files, and both end at about the same time.
LONG_FILES = ("test_distributed.py", "test_examples.py", "test_integration_default_model.py", "test_lock.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: (LONG_FILES + (item.path.name,)).index(item.path.name))


def write_jsonl(path, records):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_beir(folder, corpus, queries, qrels=None):
    """Write a BEIR folder: ``corpus``/``queries`` are lists of dicts, ``qrels`` maps split -> {qid: {docid: rel}}."""
    folder = Path(folder)
    write_jsonl(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", queries)
    for split, judgments in (qrels or {}).items():
        path = folder / "qrels" / f"{split}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in judgments.items():
                for docid, rel in docs.items():
                    handle.write(f"{qid}\t{docid}\t{rel}\n")
    return folder


def read_jsonl(path):
    with open(path, encoding="utf-8", newline="\n") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_beir_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        next(rows)  # header
        for qid, docid, rel in rows:
            qrels.setdefault(qid, {})[docid] = int(rel)
    return qrels


@pytest.fixture(scope="session", autouse=True)
def cpu_without_native_bf16():
    """Every test sees a CPU without native bf16, so ``--dtype auto`` loads float32 on every CI machine alike
    (tests/test_model_loading.py fakes the other answers). Session-scoped, so that module- and session-scoped
    model fixtures, which are set up before any function-scoped fixture, see it too."""
    import torch

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        patch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        yield


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` beside the repository; the tests that need it skip when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def scifact(shared_data):
    path = shared_data / "scifact"
    if not (path / "corpus.jsonl").is_file():
        pytest.skip(f"scifact not found at {path}")
    return path


@pytest.fixture(scope="session")
def scifact_corpus(scifact):
    """Every scifact corpus record, keyed by ``_id`` (read once per session)."""
    return {str(record["_id"]): record for record in read_jsonl(scifact / "corpus.jsonl")}


@pytest.fixture(scope="session")
def tiny_scifact(scifact, scifact_corpus):
    """(corpus, queries, test qrels) of a 30-document sample of scifact.

    The first ``TINY_QUERIES`` test queries, all their judged documents, then other corpus
    documents (in file order) up to ``TINY_DOCS``.
    """
    qrels = read_beir_qrels(scifact / "qrels" / "test.tsv")
    queries = {str(q["_id"]): q for q in read_jsonl(scifact / "queries.jsonl")}
    chosen_qrels = dict(list(qrels.items())[:TINY_QUERIES])
    docids = []
    for docs in chosen_qrels.values():
        docids += [d for d in docs if d not in docids]
    for docid in scifact_corpus:
        if len(docids) >= TINY_DOCS:
            break
        if docid not in docids:
            docids.append(docid)
    assert len(docids) == TINY_DOCS, "the judged documents of the sample queries do not fit in the tiny corpus"
    corpus = [scifact_corpus[d] for d in docids]
    return corpus, [queries[q] for q in chosen_qrels], chosen_qrels


@pytest.fixture
def make_beir(tmp_path):
    """Factory: ``make_beir(corpus, queries, qrels=None, name="beir")`` writes a BEIR folder under tmp_path."""

    def make(corpus, queries, qrels=None, name="beir"):
        return write_beir(tmp_path / name, corpus, queries, qrels)

    return make


@pytest.fixture
def tiny_beir(make_beir, tiny_scifact):
    """A BEIR folder with 30 scifact documents, 10 test queries and their test qrels (all judged docs included)."""
    corpus, queries, qrels = tiny_scifact
    return make_beir(corpus, queries, {"test": qrels}, name="tiny_beir")


def made_once(tmp_path_factory, worker_id: str, name: str, make) -> Path:
    """``make(path)`` once per test run, at ``name`` in a folder of its own that the run's pytest-xdist workers
    share: the first worker to take the lock makes it, the others reuse it (read-only)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "made-once"
    shared.mkdir(exist_ok=True)
    path, done = shared / name / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.fixture-lock")):  # not <name>.lock: that is the output lock of our commands
        if not done.exists():
            path.parent.mkdir()
            make(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def scifact_index(scifact, tmp_path_factory, worker_id):
    """A Lucene index of the full scifact corpus, built once per test run (about 12 s)."""
    from pyserini_qpeft.lucene.index import build_index

    def build(index):
        assert build_index(scifact, index) == 5183

    return made_once(tmp_path_factory, worker_id, "scifact_index", build)


def search_scifact(output, scifact, scifact_index, *extra):
    """A BM25 run of scifact test queries written by ``pyserini-qpeft search`` (``extra``: e.g. --hits 3)."""
    from pyserini_qpeft.cli.main import main

    paths = ["--index", str(scifact_index), "--beir", str(scifact), "--output", str(output)]
    assert main(["-q", "search", *paths, "--split", "test", *extra]) == 0
    return output


@pytest.fixture(scope="session")
def bm25_scifact_run(scifact, scifact_index, tmp_path_factory, worker_id):
    """BM25 run of all 300 scifact test queries, top 100, written by `search` once per test run."""

    def search(run):
        search_scifact(run, scifact, scifact_index, "--hits", "100")

    return made_once(tmp_path_factory, worker_id, "bm25_scifact.trec", search)


@pytest.fixture(scope="session")
def scifact_searcher(scifact_index):
    from pyserini_qpeft.lucene.index import open_searcher

    return open_searcher(scifact_index)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama and its tokenizer saved as a Hugging Face folder (loadable by name)."""
    from _tiny_models import tiny_llama, tiny_tokenizer

    folder = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = tiny_tokenizer()
    tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
