"""Resumable run output: finished topics are journaled as they complete, the final file appears at the end.

While a run is going, ``<output>.partial`` holds the TREC lines of finished topics and
``<output>.done`` lists those topics, one per line, written only after the topic's lines are on
disk. A killed run leaves at most one half-written topic, which ``resume`` drops and redoes. The
final file is written atomically in the run's topic order, so it equals an uninterrupted run's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from .atomic import atomic_write
from .errors import InputError
from .runs import check_run_tag, format_run_lines


class RunJournal:
    """Journal for one output run file."""

    def __init__(self, output: str | os.PathLike, tag: str):
        self.output = Path(output)
        self.tag = check_run_tag(tag)
        self.partial = self.output.with_name(self.output.name + ".partial")
        self.done_file = self.output.with_name(self.output.name + ".done")
        self.lines: Dict[str, List[str]] = {}

    def start(self, resume: bool) -> int:
        """Begin a run; with ``resume`` keep the topics a previous run finished. Returns how many."""
        if not resume:
            for path in (self.partial, self.done_file):
                path.unlink(missing_ok=True)
            return 0
        if not self.done_file.exists():
            return 0
        done = [line.strip() for line in self.done_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        finished = set(done)
        with open(self.partial, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 6 and fields[0] in finished and line.endswith("\n"):
                    self.lines.setdefault(fields[0], []).append(line)
        self.lines = {qid: self.lines.get(qid, []) for qid in done}
        # Rewrite the journal with only complete topics, dropping any half-written tail.
        with atomic_write(self.partial) as handle:
            for lines in self.lines.values():
                handle.writelines(lines)
        return len(self.lines)

    def finished(self, qid: str) -> bool:
        return qid in self.lines

    def record(self, qid: str, hits: Sequence[Tuple[str, float]]) -> None:
        """Append one finished topic: its lines first (synced), then its id in the done list."""
        lines = format_run_lines(qid, hits, self.tag)
        for path, text in ((self.partial, "".join(lines)), (self.done_file, qid + "\n")):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        self.lines[qid] = lines

    def finish(self, order: Sequence[str]) -> None:
        """Write the final run in ``order`` atomically and remove the journal."""
        missing = [qid for qid in order if qid not in self.lines]
        if missing:
            raise InputError(f"{self.output}: topics {missing[:5]} were not finished")
        with atomic_write(self.output) as handle:
            for qid in order:
                handle.writelines(self.lines[qid])
        self.partial.unlink(missing_ok=True)
        self.done_file.unlink(missing_ok=True)
