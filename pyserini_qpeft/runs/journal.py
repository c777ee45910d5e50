"""Resumable run output: finished topics are journaled as they complete, the final file appears at the end.

The journal is one append-only file, ``<output>.journal``. Its first line records the settings of the
run (model, depth, tag, source run, ...); each finished topic follows as one block: its TREC lines, then
``#end <qid> <lines> <sha256 of the settings line and those lines>``, so a block counts only under the
settings it was computed with. A block is appended with a single write through the descriptor the run
opened (never by path again) and synced.
Whatever a kill leaves (a half-written block, a footer without its lines, garbage), ``--resume`` keeps
exactly the blocks whose footer checks out, cuts the file after the last of them (saying how much it
dropped), and refuses a journal written with other settings. The final file is written atomically in the
run's topic order, so it equals an uninterrupted run's; the journal is removed after it. The caller holds
the output's lock (:mod:`pyserini_qpeft.files.lock`) while it writes.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.files.atomic import atomic_write, current_umask, make_parents, naming_errors
from pyserini_qpeft.runs.trec import check_run_tag, format_run_lines

logger = logging.getLogger(__name__)

MAGIC = "#pyserini-qpeft-journal 1 "
FOOTER = "#end "


def _part(rank: int, processes: int) -> str:
    """One process journals to ``<output>.journal``; rank R of W processes to ``<output>.rankR-of-W.journal``."""
    return f".rank{rank}-of-{processes}" if processes > 1 else ""


def _digest(header: bytes, lines: Sequence[str]) -> str:
    return hashlib.sha256(header + "".join(lines).encode("utf-8")).hexdigest()


def settings_digest(value: Any) -> str:
    """A short stable hash of JSON-able settings (e.g. a source run), to compare on resume."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


class RunJournal:
    """Journal for one output run file; ``settings`` must match for ``--resume`` to continue it."""

    def __init__(
        self,
        output: str | os.PathLike,
        tag: str,
        settings: dict[str, Any] | None = None,
        rank: int = 0,
        processes: int = 1,
    ):
        self.output = Path(output)
        self.tag = check_run_tag(tag)
        self.processes = processes
        self.path = self.output.with_name(self.output.name + _part(rank, processes) + ".journal")
        world = {"world": {"rank": rank, "size": processes}} if processes > 1 else {}
        # As JSON would read them back, so that a resume compares like with like.
        self.settings = json.loads(json.dumps({"tag": self.tag, **(settings or {}), **world}, sort_keys=True))
        self.header = (MAGIC + json.dumps(self.settings, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        self.lines: dict[str, list[str]] = {}
        self._fd: int | None = None

    # -- reading ----------------------------------------------------------------------------------
    def _read(self, fd: int) -> tuple[dict | None, dict[str, list[str]], int]:
        """(header settings or None if not our journal, valid blocks, byte length of the valid part)."""
        with open(fd, "rb", closefd=False) as handle:
            data = handle.read()
        first, newline, rest = data.partition(b"\n")
        try:
            header = first.decode("utf-8")
            settings = json.loads(header[len(MAGIC) :]) if header.startswith(MAGIC) and newline else None
        except (UnicodeDecodeError, ValueError):
            settings = None
        if not isinstance(settings, dict):
            return None, {}, 0
        blocks: dict[str, list[str]] = {}
        valid_end = offset = len(first) + 1
        pending: list[str] = []
        for raw in rest.split(b"\n")[:-1]:  # the part after the last newline is incomplete
            offset += len(raw) + 1
            try:
                line = raw.decode("utf-8") + "\n"
            except UnicodeDecodeError:
                break
            if not line.startswith(FOOTER):
                pending.append(line)
                continue
            parts = line.split()
            ok = (
                len(parts) == 4
                and parts[2].isdigit()
                and int(parts[2]) == len(pending)
                and parts[3] == _digest(first + newline, pending)
                and all(p.split(" ", 1)[0] == parts[1] for p in pending)
            )
            if not ok or parts[1] in blocks:
                break
            blocks[parts[1]] = pending
            pending = []
            valid_end = offset
        if valid_end < len(data):
            logger.warning(
                "%s: dropped its last %d bytes after %d finished topics (a half-written block, or one that was "
                "edited or written with other settings); those topics are reranked again",
                self.path,
                len(data) - valid_end,
                len(blocks),
            )
        return settings, blocks, valid_end

    def _other_worlds(self) -> list[str]:
        """Journals of this output written by another number of processes."""
        pattern = re.compile(re.escape(self.output.name) + r"(?:\.rank\d+-of-(\d+))?\.journal")
        found = []
        for path in self.output.parent.glob(f"{glob.escape(self.output.name)}.*journal"):
            match = pattern.fullmatch(path.name)
            if match and int(match.group(1) or 1) != self.processes:
                found.append(path.name)
        return sorted(found)

    def _differences(self, saved: dict) -> list[str]:
        keys = sorted(set(saved) | set(self.settings))
        return [
            f"{k}: {saved.get(k)!r} then, {self.settings.get(k)!r} now"
            for k in keys
            if saved.get(k) != self.settings.get(k)
        ]

    # -- writing ----------------------------------------------------------------------------------
    def start(self, resume: bool) -> int:
        """Begin a run; with ``resume`` keep the topics a previous run with the same settings finished.

        Returns how many topics were kept.
        """
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder; remove it or choose another --output")
        others = self._other_worlds() if resume else []
        if others:
            raise InputError(
                f"--resume: {', '.join(others[:3])} were written by a run with another number of processes; "
                "rerun with as many processes as that run had (torchrun --nproc-per-node/--nnodes), "
                "or without --resume to start over"
            )
        if os.path.lexists(self.path):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                raise self._not_ours() from None
            try:
                kept = self._continue(fd, resume)
            except BaseException:
                os.close(fd)
                raise
            if kept is not None:
                self._fd = fd
                return kept
            os.close(fd)
        make_parents(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o666 & ~current_umask())
            self._append(fd, self.header)
            os.replace(tmp, self.path)  # the descriptor stays on this file, whatever later happens to the name
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._fd = fd
        self.lines = {}
        return 0

    def _continue(self, fd: int, resume: bool) -> int | None:
        """With ``resume``, keep the valid blocks of the journal open on ``fd`` and return their number; None
        when the run starts over. A file that is not our journal, or one of other settings, is refused."""
        saved, blocks, end = self._read(fd) if stat.S_ISREG(os.fstat(fd).st_mode) else (None, {}, 0)
        if saved is None:
            raise self._not_ours()
        if resume:
            differences = self._differences(saved)
            if differences:
                raise InputError(
                    f"--resume: {self.path} was written with other settings ({'; '.join(differences)}); "
                    "rerun with the same settings, or without --resume to start over"
                )
            os.ftruncate(fd, end)  # drop a half-written tail
            self.lines = blocks
            return len(blocks)
        if blocks:
            logger.warning(
                "starting over: %s held %d finished topics of an interrupted run (pass --resume to keep them)",
                self.path,
                len(blocks),
            )
        return None

    def _not_ours(self) -> InputError:
        return InputError(
            f"{self.path}: exists and is not a pyserini-qpeft journal; refusing to overwrite it "
            "(remove it yourself or choose another --output)"
        )

    @staticmethod
    def _append(fd: int, data: bytes) -> None:
        while data:
            written = os.write(fd, data)
            data = data[written:]
        os.fsync(fd)

    def finished(self, qid: str) -> bool:
        return qid in self.lines

    def record(self, qid: str, hits: Sequence[tuple[str, float]]) -> None:
        """Append one finished topic (its lines and a checked footer) in one write, then sync."""
        if qid in self.lines:
            raise InputError(f"{self.path}: topic {qid!r} is already journaled")
        if self._fd is None:
            raise InputError(f"{self.path}: start() the journal before recording topics")
        lines = format_run_lines(qid, hits, self.tag)  # a topic without hits is a block of 0 lines
        block = "".join(lines) + f"{FOOTER}{qid} {len(lines)} {_digest(self.header, lines)}\n"
        with naming_errors(self.path):  # a full disk names the journal
            self._append(self._fd, block.encode("utf-8"))
        self.lines[qid] = lines

    def write_output(self, order: Sequence[str], lines: dict[str, list[str]] | None = None) -> None:
        """Write the final run in ``order`` atomically from ``lines`` (default: this journal's topics)."""
        lines = self.lines if lines is None else lines
        missing = [qid for qid in order if qid not in lines]
        if missing:
            raise InputError(f"{self.output}: topics {missing[:5]} were not finished")
        with atomic_write(self.output) as handle:
            for qid in order:
                handle.writelines(lines[qid])

    def close(self) -> None:
        """Close the journal's descriptor (the file stays for ``--resume``)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and remove the journal (once the final run is written)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def finish(self, order: Sequence[str]) -> None:
        """Write the final run in ``order`` atomically and remove the journal."""
        self.write_output(order)
        self.remove()
