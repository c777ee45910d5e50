"""``train``'s flags that choose its training and dev queries, for the experiments that must see the very queries a
training run saw (``zeroshot_fusion.py`` picks a fusion weight on its dev queries, ``merge_beir.py`` merges several
collections' choices into one training folder); the choice itself is
:func:`pyserini_qpeft.training.queries.choose_training_queries`. ``tests/test_benchmarks.py`` checks the flags and
defaults against ``train``'s.
"""

from __future__ import annotations

import argparse

from pyserini_qpeft.model.config import TrainingConfig


def add_selection_flags(parser: argparse.ArgumentParser, **defaults) -> argparse.ArgumentParser:
    """``train``'s flags that choose the training and dev queries, with its defaults unless ``defaults`` says."""
    flags = {
        "--split": dict(default="train"),
        "--dev-split": dict(default="dev", help="as train's: used if the BEIR folder has its qrels"),
        "--dev-fraction": dict(type=float, default=0.1),
        "--max-dev-queries": dict(type=int, default=50),
        "--max-queries": dict(type=int, default=None),
        "--max-train-queries": dict(type=int, default=None, help="as train's (does not change dev)"),
        "--negative-depth": dict(type=int, default=30),
        "--threads": dict(type=int, default=1),
        "--seed": dict(type=int, default=TrainingConfig().seed),
    }
    for flag, spec in flags.items():
        name = flag[2:].replace("-", "_")
        parser.add_argument(flag, **{**spec, "default": defaults.get(name, spec["default"])})
    return parser


def selection_parser() -> argparse.ArgumentParser:
    """A parser of just those flags (``train``'s other flags are refused)."""
    return add_selection_flags(argparse.ArgumentParser(prog="train flags", add_help=False))
