"""torch.distributed (torchrun) runs: topic sharding, byte-identical reranking, resume after a killed worker,
data-parallel training equal to one process with the global batch. Real ``torchrun`` subprocesses, gloo on CPU;
the one-process references they are compared with run in the test process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from safetensors.torch import load_file

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.runs import distributed

from _cli import cli
from _scripts import run_main, run_script
from conftest import search_scifact

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT"):
    ENV.pop(name, None)


# Bytes are compared in float32: on CPUs with native bf16 (AVX512-BF16), `--dtype auto` picks bfloat16, whose
# scores differ in the last digits between one process and two.
FLOAT32 = "float32"


def torchrun(*args, processes: int = 2, extra: tuple = ()) -> list[str]:
    return [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={processes}", *extra, "-m", "pyserini_qpeft"] + [
        str(a) for a in args
    ]


def run(command, timeout=300):
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


# -- sharding and the world, in one process ------------------------------------------------------
def test_split_balances_cost_not_count_and_is_deterministic():
    costs = {"a": 100, "b": 10, "c": 10, "d": 10, "e": 10, "f": 10, "g": 10}
    parts = distributed.split(list(costs), 2, cost=costs.get)
    assert parts == [["a"], ["b", "c", "d", "e", "f", "g"]]  # by count it would be 4 and 3
    assert distributed.split(list(costs), 2, cost=costs.get) == parts
    three = distributed.split(list("abcdefg"), 3)
    assert sorted(x for part in three for x in part) == list("abcdefg") and [len(p) for p in three] == [3, 2, 2]
    assert distributed.split([], 4) == [[], [], [], []]


def test_one_process_shares_everything_and_gathers_in_order(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    world = distributed.setup()
    assert (world.rank, world.size, world.distributed, world.is_main) == (0, 1, False, True)
    assert distributed.share({"q2": 1, "q1": 1}) == ["q2", "q1"]
    assert list(distributed.gather({"q1": 1, "q2": 2}, order=["q2", "q1"])) == ["q2", "q1"]
    assert distributed.all_reduce_sum([1.5, 2]) == [1.5, 2]
    assert distributed.rank_device(None) is None and distributed.rank_device("cpu") == "cpu"


def test_world_from_torchrun_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    world = distributed.world_from_env()
    assert (world.rank, world.size, world.local_rank, str(world)) == (3, 4, 1, "rank 3 of 4")
    assert distributed.share(list("abcdefgh"), world=world) == ["d", "h"]
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(InputError, match="RANK=4, WORLD_SIZE=4"):
        distributed.world_from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(InputError, match="RANK='x' must be an integer"):
        distributed.world_from_env()


# -- reranking under torchrun -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_and_reference(scifact, scifact_index, tiny_model_dir, tmp_path_factory):
    """A BM25 run (40 queries, top 8) and its one-process rerank with the tiny model, texts from the BEIR corpus (no
    Java to start in each process; tests/test_cli_rerank.py shows that the index gives the same run, and search
    under torchrun below reads the index's texts)."""
    folder = tmp_path_factory.mktemp("dist-rerank")
    bm25 = search_scifact(folder / "bm25.trec", scifact, scifact_index, "--max-queries", "40", "--hits", "8")
    common = ["--beir", scifact, "--split", "test", "--model", tiny_model_dir]
    common += ["--max-length", "128", "--batch-size", "1"]  # one pair a batch: slow enough to kill a worker mid-run
    common += ["--dtype", FLOAT32]
    reference = folder / "one.trec"
    run_main("-q", "rerank", "--run", bm25, *common, "--output", reference)
    return bm25, common, reference.read_bytes()


def test_torchrun_search_and_rerank_are_byte_identical_to_one_process(tmp_path, scifact, scifact_index, tiny_model_dir):
    """`rerank` under torchrun gives the one-process bytes in the killed-worker test below (resumed, restarted)."""
    search = ["search", "--index", scifact_index, "--beir", scifact, "--split", "test", "--max-queries", "12"]
    search += ["--hits", "5", "--rerank", tiny_model_dir, "--max-length", "128", "--dtype", FLOAT32]
    run_main("-q", *search, "--output", tmp_path / "s1.trec")
    (tmp_path / "two").mkdir()
    done = run(torchrun(*search, "--output", tmp_path / "two" / "s2.trec"))
    assert (tmp_path / "s1.trec").read_bytes() == (tmp_path / "two" / "s2.trec").read_bytes()
    assert "rank 0 of 2: reranking" in done.stderr and os.listdir(tmp_path / "two") == ["s2.trec"]


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` with its output going to ``log`` (a pipe nobody reads would fill and stall it)."""
    with open(log, "wb") as handle:
        return subprocess.Popen(command, env=ENV, stdout=handle, stderr=subprocess.STDOUT)


def _workers(process: subprocess.Popen, rank: int) -> list[psutil.Process]:
    """The worker processes of rank ``rank`` under ``process`` (those that end while being asked are left out)."""
    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _kill_one_worker_once_journaled(process: subprocess.Popen, output: Path, rank: int = 1) -> None:
    """SIGKILL rank ``rank``'s worker as soon as its journal holds a finished topic."""
    journal = output.with_name(f"{output.name}.rank{rank}-of-2.journal")
    deadline = time.time() + 240
    while time.time() < deadline:
        if journal.exists() and b"#end " in journal.read_bytes():
            workers = _workers(process, rank)
            assert workers, "no worker process found"
            for worker in workers:
                worker.send_signal(signal.SIGKILL)
            return
        assert process.poll() is None, "the run ended before a worker could be killed"
        time.sleep(0.05)
    raise AssertionError("no topic was journaled in time")


def _assert_same_run(path: Path, reference: bytes) -> None:
    got, want = path.read_text().splitlines(), reference.decode().splitlines()
    differing = [(g, w) for g, w in zip(got, want) if g != w]
    assert len(got) == len(want) and not differing, f"{len(differing)} lines differ, e.g. {differing[:3]}"


def test_killed_worker_then_resume_and_torchrun_restart_give_the_same_bytes(tmp_path, run_and_reference, capsys):
    bm25, common, reference = run_and_reference
    output = tmp_path / "killed.trec"
    args = ("rerank", "--run-file", bm25, *common, "--output", output)
    process = _start(torchrun(*args), tmp_path / "killed.log")
    _kill_one_worker_once_journaled(process, output)
    assert process.wait(timeout=120) != 0
    assert not output.exists() and output.with_name("killed.trec.rank1-of-2.journal").exists()

    code, _, err = cli(capsys, "-q", *args, "--resume")  # one process, in this one: the journals say 2
    assert code == 1 and "another number of processes" in err
    done = run(torchrun(*args, "--resume"))
    assert "resuming" in done.stderr
    _assert_same_run(output, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.log", "killed.trec"]

    restarted = tmp_path / "restarted.trec"
    args = ("rerank", "--run-file", bm25, *common, "--output", restarted)
    process = _start(torchrun(*args, extra=("--max-restarts=1",)), tmp_path / "restarted.log")
    _kill_one_worker_once_journaled(process, restarted)
    assert process.wait(timeout=240) == 0, (tmp_path / "restarted.log").read_text()[-3000:]
    _assert_same_run(restarted, reference)


# -- training under torchrun ------------------------------------------------------------------------
def _weights(folder: Path) -> dict:
    return {f"{f.name}:{k}": v.float() for f in sorted(folder.glob("*.safetensors")) for k, v in load_file(f).items()}


def _assert_same_weights(first: Path, second: Path) -> None:
    one, two = _weights(first), _weights(second)
    assert one.keys() == two.keys()
    for name in one:
        assert (one[name] - two[name]).abs().max() <= 1e-5 * max(1.0, one[name].abs().max()), name
    assert any((value != 0).any() for name, value in one.items() if "prompt" in name)


def test_two_processes_with_half_the_batch_train_the_same_weights_and_resume(
    tmp_path, scifact, scifact_index, tiny_model_dir
):
    # Negatives from a BM25 run of the training queries, texts from the corpus: no process starts Java.
    first_stage = search_scifact(
        tmp_path / "bm25-train.trec", scifact, scifact_index, "--split", "train", "--hits", "30"
    )
    train = ["-q", "train", "--beir", scifact, "--first-stage-run", first_stage, "--model", tiny_model_dir]
    train += ["--max-queries", "12", "--epochs", "3", "--max-length", "128", "--negatives", "1", "--in-batch", "1"]
    train += ["--dtype", FLOAT32]
    train += ["--num-virtual-tokens", "2", "--k", "3", "--variant", "r", "--fusion-depth", "4", "--save-every", "1"]
    run_main(*train, "--batch-size", "4", "--output", tmp_path / "one")
    # Two processes with half the batch, one worker killed once the first training state is saved, then --resume
    # under torchrun: the same weights and the same fusion weight as one process.
    output = tmp_path / "killed"
    process = _start(torchrun(*train, "--batch-size", "2", "--output", output), tmp_path / "killed.log")
    state = tmp_path / "killed.train-state" / "trainer_state.json"
    deadline = time.time() + 240
    while not state.exists():
        assert process.poll() is None and time.time() < deadline, "training ended before a worker could be killed"
        time.sleep(0.05)
    killed = [worker for worker in _workers(process, rank=1) if worker.send_signal(signal.SIGKILL) is None]
    log = tmp_path / "killed.log"
    assert process.wait(timeout=120) != 0 and killed, f"killed {killed}: {log.read_text()[-3000:]}"
    assert not (output / "training_summary.json").exists()
    run(torchrun(*train, "--batch-size", "2", "--output", output, "--resume"))
    _assert_same_weights(tmp_path / "one", output)
    summary = json.loads((output / "training_summary.json").read_text())
    assert (summary["processes"], summary["global_batch_size"]) == (2, 4)
    assert summary["fusion"] == json.loads((tmp_path / "one" / "training_summary.json").read_text())["fusion"]


# -- the Python API in one's own loop: examples/beir_torchrun.py ---------------------------------------
def test_beir_example_under_torchrun_prints_what_one_process_prints(
    tmp_path, scifact, scifact_index, tiny_model_dir, capsys
):
    pytest.importorskip("beir")
    script = Path(__file__).resolve().parents[1] / "examples" / "beir_torchrun.py"
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / f"{scifact.name}-index").symlink_to(scifact_index, target_is_directory=True)
    args = [str(a) for a in (script, scifact, tiny_model_dir, 5, 5)]
    run_script(args, tmp_path)
    one = capsys.readouterr().out
    two = subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc-per-node=2", *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "nDCG@10" in one and two.stdout == one
