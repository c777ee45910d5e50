"""Reading a JSON file given to us (a checkpoint's config, a model's ``config.json``) with one-line errors."""

from __future__ import annotations

import json
import os
from typing import Any

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.text import read_text


def read_json(path: str | os.PathLike, fix: str) -> Any:
    """The value in a UTF-8 JSON file. Text that is not JSON (``file:line``), or that nests lists and objects
    deeper than the parser allows (a few thousand levels; Python would raise ``RecursionError``), is an
    :class:`InputError` naming the file and ending with ``fix``."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); {fix}") from None
    except RecursionError:
        raise InputError(f"{path}: JSON lists and objects nested thousands deep; {fix}") from None
