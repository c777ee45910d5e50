"""Text helpers: clean-up shared by indexing and scoring, and UTF-8 file reading with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

from pyserini_qpeft.errors import InputError


def clean_text(text: str) -> str:
    """Replace lone surrogates (possible in JSON input, e.g. "\\udc80") with U+FFFD; tokenizers and Java reject them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in text)


def title_and_text(title: str | None, text: str | None) -> str:
    """The text we index and rerank for a document: "title\ntext", or the text alone when there is no title."""
    title, text = title or "", text or ""
    return f"{title}\n{text}" if title else text


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 file, with an InputError naming the file when it is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); convert the file to UTF-8"
        ) from None


def bounded_int(digits: str, limit: int) -> int:
    """The value of a string of decimal ``digits``, or ``limit + 1`` when it is larger than ``limit`` (huge digit
    strings are never converted: ``int()`` refuses beyond a few thousand digits)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= len(str(limit)) else limit + 1
