"""Each example runs as written (on a small slice) with the real default model: the Python ones in the test process
(as ``python SCRIPT``), the shell one as a script."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _scripts import run_main, run_script

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(args, cwd, **env):
    result = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_quickstart(tmp_path, scifact, scifact_index, capsys):
    (tmp_path / "runs").mkdir()
    shutil.copytree(scifact_index, tmp_path / "runs" / "quickstart-index")
    run_script([ROOT / "examples" / "quickstart.py", scifact, "1", "3"], tmp_path)
    out = capsys.readouterr().out
    assert "BM25" in out and "reranked" in out and "nDCG@10" in out


def test_beir_eval(tmp_path, scifact, scifact_index, capsys):
    pytest.importorskip("beir")
    (tmp_path / "runs").mkdir()
    shutil.copytree(scifact_index, tmp_path / "runs" / f"{scifact.name}-index")
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    run_script([ROOT / "examples" / "beir_eval.py", scifact, model, "1", "3"], tmp_path)
    out = capsys.readouterr().out
    assert "BM25: nDCG@10" in out and "(top 3): nDCG@10" in out


def test_pipeline_yaml(tmp_path, scifact, scifact_index, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sets = {
        "index.path": scifact_index,
        "index.build": "never",
        "collection.beir": scifact,
        "topics.max_queries": 1,
        "reranker.depth": 3,
        "reranker.max_length": 128,
        "output.run": tmp_path / "pipeline.trec",
    }
    run_main("-q", "pipeline", ROOT / "examples" / "pipeline.yaml", *(f"--set={k}={v}" for k, v in sets.items()))
    assert "reranked" in capsys.readouterr().out and (tmp_path / "pipeline.trec.metrics.json").is_file()


def test_train_scifact_sh(tmp_path, scifact, scifact_index):
    (tmp_path / "work").mkdir()
    shutil.copytree(scifact_index, tmp_path / "work" / "index")
    out = run(
        ["bash", str(ROOT / "examples" / "train_scifact.sh"), str(scifact), str(tmp_path / "work"), "2", "1", "3"],
        tmp_path,
        EPOCHS="1",
        MAX_LENGTH="64",
    )
    assert out.count("nDCG@10") == 2
    assert (tmp_path / "work" / "ckpt-r" / "qpeft_config.json").is_file()
