"""Save and load an optimizer's state with its matrix moments stored as their nonzero rows.

Q-PEFT-R's query table has a row per vocabulary entry (about 28M values for the default LM), but a training run
only touches the rows of the tokens its queries hold. Adam's moments of the other rows stay exactly zero, so
storing only the nonzero rows shrinks a resumable state from hundreds of MB to a few, and loading restores the
same dense tensors, so a resumed run takes the same steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pyserini_qpeft.files.atomic import atomic_write


def _row_sparse(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.dim() == 2 and not value.is_sparse:
        return value.to_sparse(sparse_dim=1)
    return value


def _dense(value: Any) -> Any:
    return value.to_dense() if isinstance(value, torch.Tensor) and value.is_sparse else value


def save_optimizer_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Write ``optimizer.state_dict()`` to ``path`` atomically, each 2-D moment as its nonzero rows."""
    state = optimizer.state_dict()
    compact = {key: {name: _row_sparse(v) for name, v in moments.items()} for key, moments in state["state"].items()}
    with atomic_write(path, "wb") as handle:
        torch.save({**state, "state": compact}, handle)


def load_optimizer_state(optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Load a state written by :func:`save_optimizer_state` (or a plain ``torch.save`` of a state dict)."""
    state = torch.load(path, weights_only=True)
    dense = {key: {name: _dense(v) for name, v in moments.items()} for key, moments in state["state"].items()}
    optimizer.load_state_dict({**state, "state": dense})
