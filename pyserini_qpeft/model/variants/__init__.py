"""The registry of Q-PEFT variants: what each one adds to the frozen LM.

A variant is a :class:`VariantSpec`: whether it has a soft prompt, and which hint module (a
:class:`~pyserini_qpeft.model.variants.base.HintModule` subclass, named as ``"module:Class"``) makes its hints.
Adding a variant is one new module with its hint module plus one line in :data:`VARIANTS`.

Importing this package does not import torch (config validation uses it); hint modules are imported
only when a model is built (:func:`hint_module_class`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pyserini_qpeft.errors import InputError

__all__ = ["VariantSpec", "VARIANTS", "get_variant", "trainable_variants", "hint_module_class"]


@dataclass(frozen=True)
class VariantSpec:
    """One variant: its name (``QPEFTConfig.variant``), its trainable parts and a one-line description."""

    name: str
    uses_prompt: bool  # a soft prompt before the passage
    hints: str | None  # "module:Class" of its HintModule, or None (no "Hints:" line)
    description: str

    @property
    def uses_hints(self) -> bool:
        return self.hints is not None

    @property
    def trainable(self) -> bool:
        return self.uses_prompt or self.uses_hints


_HINTS = "pyserini_qpeft.model.variants"
VARIANTS: dict[str, VariantSpec] = {
    spec.name: spec
    for spec in (
        VariantSpec("zeroshot", False, None, "zero-shot query likelihood (UPR): no soft prompt, no hints"),
        VariantSpec("prompt", True, None, "soft prompt only (plain prompt tuning)"),
        VariantSpec("r", True, f"{_HINTS}.retrieval:RetrievalHints", "Q-PEFT-R: soft prompt + retrieved hint tokens"),
        VariantSpec("a", True, f"{_HINTS}.attention:AttentionHints", "Q-PEFT-A: soft prompt + attention hints"),
    )
}


def get_variant(name: str) -> VariantSpec:
    """The spec registered as ``name``; an :class:`InputError` naming the known variants otherwise."""
    try:
        return VARIANTS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown variant {name!r}; use one of {', '.join(VARIANTS)}") from None


def trainable_variants() -> list[str]:
    """Names of the variants with something to train (all but zero-shot), in registry order."""
    return [name for name, spec in VARIANTS.items() if spec.trainable]


def hint_module_class(spec: VariantSpec) -> type:
    """Import and return the spec's hint-module class (a ``HintModule`` subclass)."""
    if spec.hints is None:
        raise InputError(f"variant {spec.name!r} has no hint module")
    module_name, _, class_name = spec.hints.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    from pyserini_qpeft.model.variants.base import HintModule

    if not (isinstance(cls, type) and issubclass(cls, HintModule)):
        raise TypeError(f"variant {spec.name!r}: {spec.hints} is not a HintModule subclass")
    return cls
