"""Pipeline YAML files for the pipeline tests: a base config over scifact and a writer."""

from __future__ import annotations

BASE = """
collection: {beir: %(beir)s}
index: {path: %(index)s, build: never}
topics: {split: test, max_queries: 3}
first_stage: {hits: 10}
output: {run: out/run.trec}
"""


def write(tmp_path, text: str, name: str = "p.yaml"):
    """Write ``text`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def base(scifact, index="idx") -> str:
    """The base config's text for the scifact folder and an index path."""
    return BASE % {"beir": scifact, "index": index}
