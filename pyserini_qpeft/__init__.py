"""Q-PEFT rerankers for Pyserini: query-likelihood LLM reranking with query-dependent prompts."""

from typing import Any

__version__ = "0.1.0"

__all__ = ["QPEFTReranker", "Candidate", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy exports keep `import pyserini_qpeft` cheap (no torch/transformers until needed).
    if name == "QPEFTReranker":
        from pyserini_qpeft.reranker import QPEFTReranker

        return QPEFTReranker
    if name == "Candidate":
        from pyserini_qpeft.candidate import Candidate

        return Candidate
    raise AttributeError(f"module 'pyserini_qpeft' has no attribute {name!r}")
