"""The reranked hit: what Pyserini's output writers and TREC runs need (``docid``, ``score``), plus text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Candidate:
    """A document for one query: its id, current score and text (None until fetched)."""

    docid: str
    score: float = 0.0
    text: str | None = None
    first_stage_score: float | None = field(default=None, compare=False)

    @property
    def raw(self) -> str | None:
        """Alias for ``text``, for code written against Pyserini documents."""
        return self.text
