"""Checks before writing: the program replaces only what it can prove is its own kind of file or folder.

- A run file may be replaced when it reads as a TREC run (an empty file proves nothing, so it is refused), and
  never when it is one of the command's inputs; a JSON report when it is a JSON object with our keys.
  Anything else is the user's and is refused, naming the path and the reason.
- A folder may be deleted (only with an explicit overwrite) when it is a Lucene index (nothing but
  Lucene's files) or a Q-PEFT training state (nothing but our files).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from pyserini_qpeft.errors import InputError

# File names Lucene writes in an index folder (segments, per-segment files, the lock).
LUCENE_FILE = re.compile(
    r"^(segments_[0-9a-z]+|pending_segments_[0-9a-z]+|write\.lock|_[0-9a-z]+(_[^.]*)?\.[a-z0-9]+)$"
)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_writable_target(path: str | os.PathLike, flag: str) -> Path:
    """``path`` must not be a folder, its parent must be (or become) a folder we can write in."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file path")
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise InputError(f"{flag} {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {base} (permission denied); choose another path")
    return path


def looks_like_run(path: Path) -> bool:
    """True for a file whose first lines are TREC run lines (``qid Q0 docid rank score tag``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    lines = [line for line in head.split(b"\n")[:5] if line.strip()]
    if not lines:
        return False
    if len(head) == 4096 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    for line in lines:
        fields = line.split()
        if len(fields) != 6:
            return False
        try:
            int(fields[3])
            float(fields[4])
        except ValueError:
            return False
    return True


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_run_output(
    path: str | os.PathLike, flag: str = "--output", inputs: Mapping[str, str | os.PathLike | None] = {}
) -> Path:
    """Refuse to write a run over a folder, over one of the command's ``inputs`` (flag -> path), or over a file
    that is not a TREC run."""
    path = check_writable_target(path, flag)
    for name, source in inputs.items():
        if source is not None and _same_file(path, Path(source)):
            raise InputError(f"{flag} {path}: is the input {name}; write the output to another path")
    if path.exists() and not (path.is_file() and looks_like_run(path)):
        raise InputError(
            f"{flag} {path}: exists and is not a TREC run file; refusing to overwrite it "
            "(choose another path, or remove it yourself)"
        )
    return path


def check_json_output(path: str | os.PathLike, keys: Iterable[str], flag: str) -> Path:
    """Refuse to write a JSON report over anything but a JSON object holding ``keys``."""
    path = check_writable_target(path, flag)
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ours = isinstance(data, dict) and all(key in data for key in keys)
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise InputError(
                f"{flag} {path}: exists and was not written by pyserini-qpeft; refusing to overwrite it "
                "(choose another path, or remove it yourself)"
            )
    return path


def is_lucene_index(path: str | os.PathLike) -> bool:
    """True for a folder holding a Lucene index and nothing else."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        return False
    names = [entry.name for entry in path.iterdir()]
    return any(n.startswith("segments_") for n in names) and all(LUCENE_FILE.match(n) for n in names)


def only_names(path: Path, allowed: Iterable[str]) -> bool:
    """True for a real folder whose entries all have names in ``allowed`` (or are our hidden temporaries)."""
    allowed = set(allowed)
    if not path.is_dir() or path.is_symlink():
        return False
    return all(
        e.name in allowed or (e.name.startswith(".") and e.name.endswith((".tmp", ".old"))) for e in path.iterdir()
    )
