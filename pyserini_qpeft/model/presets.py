"""Presets: trained checkpoints shipped inside the package, addressed by a short name.

A preset is a checkpoint folder ``pyserini_qpeft/presets/<name>/`` (our config, weights and a model card,
``README.md``). Wherever a model id or checkpoint folder is accepted (``QPEFTReranker.from_pretrained``,
``--model``, ``--rerank``, YAML ``reranker.model``) the name resolves to that folder, offline; a local
folder of the same name wins (and the log says so).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

PRESET_ROOT = Path(__file__).resolve().parents[1] / "presets"  # the checkpoint folders shipped as package data


def available(root: Path | None = None) -> dict[str, Path]:
    """Name -> folder of every preset (a sub-folder holding ``qpeft_config.json``)."""
    from pyserini_qpeft.model.config import CONFIG_NAME

    root = PRESET_ROOT if root is None else root
    return {p.name: p for p in sorted(root.iterdir()) if (p / CONFIG_NAME).is_file()} if root.is_dir() else {}


def resolve(name: str | os.PathLike, root: Path | None = None) -> Path | None:
    """The folder of preset ``name``, or None when ``name`` is not a preset (or is a local path)."""
    text = str(name)
    if not text or os.sep in text or "/" in text:
        return None
    found = available(root).get(text)
    if found is not None and Path(text).exists():
        logger.warning("%s: loading the local folder %s, not the preset of that name", text, Path(text).resolve())
        return None
    return found
