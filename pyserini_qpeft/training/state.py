"""A training run's resumable state, consistent whatever moment the process is killed.

    <output>.train-state/
        trainer_state.json   counters, settings, and the generation that holds the matching weights
        gen-<n>/last/        the trainable weights after the last saved step (a checkpoint folder)
        gen-<n>/optimizer.pt the optimizer's state at that step
        best/                the best weights so far by dev loss, published to <output> when the run ends
        publish/             <output> being assembled (fusion weight, summary, card) before it is renamed into place

A save writes a whole new generation under a hidden temporary name, renames it to ``gen-<n>``, and only then
replaces ``trainer_state.json`` (one atomic rename) to name it: a kill before that rename leaves the previous
state in force, a kill after it the new one; older generations and a killed save's leftovers are removed after.
``best/`` may run ahead of the state after a kill, but a resumed run replays the same steps (each seeded by epoch
and step) and writes the same best weights again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from pyserini_qpeft.files.atomic import atomic_write, fsync_dir, io_event, staging_directory
from pyserini_qpeft.model.checkpoint import remove_temporaries, save_checkpoint
from pyserini_qpeft.training.optimizer_state import save_optimizer_state

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.pt"
LAST = "last"
BEST = "best"
PUBLISH = "publish"
_GENERATION = re.compile(r"gen-(\d+)")
_LEFTOVER = re.compile(r"\.(gen-\d+|trainer_state\.json|optimizer\.pt)\..+\.tmp")


def state_dir(output: str | os.PathLike) -> Path:
    """The folder beside checkpoint ``output`` that holds its resumable training state: ``<output>.train-state``."""
    return Path(str(output) + ".train-state")


def is_training_state(folder: Path) -> bool:
    """Whether every entry of ``folder`` is one this module writes (so the folder is ours to replace)."""
    from pyserini_qpeft.model.checkpoint import is_checkpoint

    for entry in folder.iterdir():
        name = entry.name
        if name in (STATE_FILE, OPTIMIZER_FILE) or _LEFTOVER.fullmatch(name):
            continue
        if name in (LAST, BEST, PUBLISH) and entry.is_dir() and not entry.is_symlink():
            continue
        if _GENERATION.fullmatch(name) and entry.is_dir() and not entry.is_symlink():
            continue
        return False
    last = folder / LAST  # the layout before generations: last/ beside trainer_state.json
    return not last.exists() or is_checkpoint(last)


def read_state(folder: Path) -> dict[str, Any] | None:
    """The saved ``trainer_state.json`` of a training state folder, or None when no save has completed."""
    path = folder / STATE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def weights_folder(folder: Path, saved: dict[str, Any]) -> Path:
    """The folder holding ``last/`` and ``optimizer.pt`` for a saved state (the state folder itself in the layout
    written before generations)."""
    return folder / saved["generation"] if "generation" in saved else folder


def save_state(folder: Path, model, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write a new generation of weights and optimizer, then switch ``trainer_state.json`` to it (atomically)."""
    number = 1 + max((int(m.group(1)) for m in map(_GENERATION.fullmatch, _names(folder)) if m), default=0)
    name = f"gen-{number}"
    with staging_directory(folder / name) as tmp:
        save_checkpoint(model, tmp / LAST)
        save_optimizer_state(optimizer, tmp / OPTIMIZER_FILE)
        fsync_dir(tmp)
        io_event("rename", folder / name)
        os.replace(tmp, folder / name)
    fsync_dir(folder)
    with atomic_write(folder / STATE_FILE) as handle:
        json.dump({**state, "generation": name}, handle, indent=2)
    fsync_dir(folder)
    remove_leftovers(folder, {name})


def _names(folder: Path) -> list[str]:
    return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []


def remove_leftovers(folder: Path, keep: set[str]) -> None:
    """Remove the generations not in ``keep`` and what killed saves left behind (all written by this module)."""
    saved = read_state(folder)
    if saved is not None and "generation" in saved:
        keep = keep | {saved["generation"]}
        for old in (OPTIMIZER_FILE, LAST):  # the layout before generations, now superseded
            path = folder / old
            if path.is_dir():
                shutil.rmtree(path)
            elif path.is_file():
                path.unlink()
    for name in _names(folder):
        path = folder / name
        if (_GENERATION.fullmatch(name) and name not in keep) or _LEFTOVER.fullmatch(name):
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def save_best(folder: Path, model) -> Path:
    """Save the best weights so far to ``folder/best`` (each file atomic, the config's checksums first), removing
    what a killed save of it left behind."""
    save_checkpoint(model, folder / BEST)
    remove_temporaries(folder / BEST)
    return folder / BEST
