"""Run a script or a ``pyserini-qpeft`` command in the test process: its own code and arguments, without a new
interpreter importing torch, transformers and Pyserini and starting Java again (most of a subprocess's time)."""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from pathlib import Path

import torch

from pyserini_qpeft.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def one_thread():
    """Torch on one thread, as in the subprocesses (OMP_NUM_THREADS=1) whose bytes the caller compares."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_main(*args) -> None:
    """``pyserini-qpeft ARGS`` in this process, on one torch thread; it must succeed."""
    with one_thread():
        assert main([str(a) for a in args]) == 0


def _run_in_process(args, cwd) -> int | str:
    """``python SCRIPT ARGS`` from ``cwd``, run as ``__main__`` with its folder first on sys.path. Returns its exit
    code (0 for success) or the error it ended with."""
    script = (Path(cwd) / args[0]).resolve()
    saved = sys.argv, sys.path[:], os.getcwd()
    sys.argv, sys.path[:0] = [str(script), *map(str, args[1:])], [str(script.parent)]
    os.chdir(cwd)
    try:
        with one_thread():
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit:
        return exit.code or 0
    except Exception as exc:  # noqa: BLE001  (the failure a caller expects, or one it reports)
        return f"{type(exc).__name__}: {exc}"
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        os.chdir(saved[2])
    return 0


def run_script(args, cwd=ROOT) -> None:
    outcome = _run_in_process(args, cwd)
    assert outcome == 0, outcome


def script_error(args, cwd=ROOT) -> str:
    """The error a script that must fail ended with."""
    outcome = _run_in_process(args, cwd)
    assert outcome != 0, f"{args[0]} succeeded"
    return str(outcome)
