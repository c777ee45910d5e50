"""The reranked hit: what Pyserini's output writers and TREC runs need (``docid``, ``score``), plus text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Candidate:
    """A document for one query: its id, current score and text (None until fetched)."""

    docid: str
    score: float = 0.0
    text: Optional[str] = None
    first_stage_score: Optional[float] = field(default=None, compare=False)

    @property
    def raw(self) -> Optional[str]:
        """Alias for ``text``, for code written against Pyserini documents."""
        return self.text
