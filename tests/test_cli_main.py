"""The ``pyserini-qpeft`` entry point: usage errors, ``python -m``, ``--help`` and ``--version``."""

import subprocess
import sys

import pytest

from pyserini_qpeft.cli.main import main

from conftest import REPO_ROOT


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["search", "--output", "x.trec"])
    assert info.value.code == 2
    assert "--index" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_module_help_and_version():
    result = subprocess.run(
        [sys.executable, "-m", "pyserini_qpeft", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "pyserini-qpeft" in result.stdout
    for command in ("index", "search", "rerank", "evaluate"):
        assert command in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "pyserini_qpeft", "--version"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0
    import pyserini_qpeft

    assert result.stdout.strip() == f"pyserini-qpeft {pyserini_qpeft.__version__}"
