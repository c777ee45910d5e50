"""The speed benchmark's baselines compute what ours computes, and the scripts run end to end on tiny models."""

import argparse
import json
import mmap
import shutil
import sys
from pathlib import Path

import pytest
import torch

from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.qpeft_model import QPEFTModel
from pyserini_qpeft.model.scoring import QueryLikelihoodScorer

from _scripts import run_script, script_error
from _tiny_models import tiny_gpt2, tiny_llama, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchlib import PeakMemory  # noqa: E402
from speed_impls import bare_forward, naive_scores, our_batches, random_llama  # noqa: E402

QUERY = "Cells respond to stress"
DOCS = [
    "The vaccine reduced infection rates in the elderly cohort of the trial.",
    "Mutations in the gene were associated with higher cancer risk.",
    "Cells respond to stress by activating signalling pathways " * 6,
    "Short text.",
]


def model_for(variant, lm):
    tokenizer = tiny_tokenizer()
    model = QPEFTModel(lm, tokenizer, QPEFTConfig(variant=variant, max_length=64, num_hints=3, attention_heads=2))
    torch.manual_seed(1)
    for parameter in model.trainable_parameters().values():  # move off the zero-initialised MLP output
        with torch.no_grad():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


@pytest.mark.parametrize("variant", ["zeroshot", "prompt", "r", "a"])
@pytest.mark.parametrize("make_lm", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2"])
def test_naive_implementation_gives_our_scores(variant, make_lm):
    model = model_for(variant, make_lm(len(tiny_tokenizer())))
    ours = QueryLikelihoodScorer(model, batch_size=3, token_budget=256).score_pairs([QUERY] * len(DOCS), DOCS)
    naive = naive_scores(model, QUERY, DOCS, batch_size=3)
    assert naive == pytest.approx(ours, abs=1e-4)
    assert len(set(round(s, 4) for s in ours)) > 1


def test_bare_forward_runs_the_trunk_over_our_exact_batches():
    model = model_for("r", tiny_llama(len(tiny_tokenizer())))
    batches = our_batches(model, QUERY, DOCS, batch_size=3, token_budget=256)
    assert sorted(i for b in batches for i in b.indices) == list(range(len(DOCS)))
    assert [b.input_ids.shape[0] for b in batches] == [3, 1]
    seen = []
    handle = model.lm.base_model.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs), with_kwargs=True
    )
    try:
        bare_forward(model, batches)
    finally:
        handle.remove()
    assert len(seen) == len(batches)
    for kwargs, batch in zip(seen, batches):
        assert torch.equal(kwargs["input_ids"], batch.input_ids)
        assert torch.equal(kwargs["attention_mask"], batch.attention_mask)


def test_random_llama_is_about_one_billion_parameters():
    lm = random_llama(tiny_tokenizer(), device="meta")
    count = sum(p.numel() for p in lm.parameters())
    assert 0.95e9 < count + 2048 * (49152 - len(tiny_tokenizer())) < 1.15e9  # with the default model's vocabulary
    small = random_llama(
        tiny_tokenizer(), hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, dtype=torch.float32
    )
    out = small(input_ids=torch.tensor([[1, 5, 7]]))
    assert out.logits.shape == (1, 3, len(tiny_tokenizer()))


def test_random_smollm2_has_the_default_models_shape_and_the_scale_models_parameter_count():
    from speed_impls import SMOLLM2_135M

    lm = random_llama(tiny_tokenizer(), device="meta", **SMOLLM2_135M)
    count = sum(p.numel() for p in lm.parameters()) + 576 * (49152 - len(tiny_tokenizer()))
    assert count == 134_515_008  # HuggingFaceTB/SmolLM2-135M-Instruct, as bench_distributed's scale model uses


def test_scale_model_hours_follow_pairs_and_gpus(tmp_path):
    import argparse

    import bench_distributed

    args = argparse.Namespace(
        model=bench_distributed.DEFAULT_MODEL,
        tokens_per_pair=300.0,
        gpu_pairs_per_s=1000.0,
        mfu=0.2,
        startup_seconds=0.0,
        scale_max_length=512,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            bench_distributed, "_model_config", lambda model: argparse.Namespace(num_hidden_layers=30, hidden_size=576)
        )
        result = bench_distributed.scale(args, cpu_pairs_per_s=2.0)
    rows = {(r["collection"].split(" (")[0], r["gpus"]): r["hours"] for r in result["rows"]}
    assert rows["MS MARCO dev", 1] == pytest.approx(698_000 / 1000 / 3600)
    assert rows["MS MARCO dev", 8] == pytest.approx(698_000 / (8 * 1000 * 0.95) / 3600)
    assert rows["MS MARCO dev", 0] == pytest.approx(698_000 / 2.0 / 3600)
    assert result["flops_per_pair"] == 2 * 134_515_008 * 300 + 2 * 30 * 300 * 300 * 576


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_peak_memory_sees_a_large_temporary_allocation():
    with PeakMemory() as small:
        pass
    with PeakMemory() as large:
        block = mmap.mmap(-1, 300 * 2**20)  # fresh pages (a bytearray may reuse resident heap that earlier tests freed)
        for page in range(0, len(block), mmap.PAGESIZE):
            block[page] = 1
        block.close()
    assert large.resettable
    assert large.rss_mib - small.rss_mib > 250


def test_bench_speed_end_to_end_on_a_tiny_model(tmp_path, scifact, tiny_model_dir):
    out = tmp_path / "speed"
    run_script(
        [
            "benchmarks/bench_speed.py",
            "--beir",
            str(scifact),
            "--model",
            str(tiny_model_dir),
            "--queries",
            "2",
            "--docs",
            "3",
            "--max-length",
            "256",
            "--repeats",
            "2",
            "--selection-candidates",
            "3,6",
            "--selection-queries",
            "2",
            "--out",
            str(out),
        ],
        ROOT,
    )
    result = json.loads((out / "results.json").read_text())
    model = result["models"][0]
    assert model["pairs"] == 6
    assert {(r["variant"], r["implementation"]) for r in model["rows"]} == {
        (v, i) for v in ("zeroshot", "prompt", "r", "a") for i in ("ours", "bare", "naive")
    }
    for row in model["rows"]:
        assert len(row["seconds"]) == 2 and row["pairs_per_s"] > 0 and row["model_flops"] > 0
        assert row["max_abs_score_diff_ours_vs_naive"] < 1e-3
    assert set(model["ratios"]["r"]) == {"ours_over_bare", "ours_over_naive", "max_abs_score_diff"}
    assert [r["candidates"] for r in result["selection"]] == [3, 6]
    assert {"torch_ms", "paper_per_pair_ms"} <= set(result["selection"][0])
    assert (out / "throughput.png").stat().st_size > 1000 and (out / "selection.png").stat().st_size > 1000
    assert "ours / bare" in (out / "results.md").read_text()


def test_bench_quality_end_to_end_with_interpolation(tmp_path, scifact, scifact_index, tiny_model_dir):
    out = tmp_path / "quality"
    run_script(
        [
            "benchmarks/bench_quality.py",
            "--beir",
            str(scifact),
            "--index",
            str(scifact_index),
            "--max-queries",
            "3",
            "--dev-queries",
            "3",
            "--depth",
            "4",
            "--hits",
            "10",
            "--max-length",
            "160",
            "--zeroshot-model",
            str(tiny_model_dir),
            "--out",
            str(out),
        ],
        ROOT,
    )
    result = json.loads((out / "results.json").read_text())
    assert set(result["systems"]) == {"bm25", "zeroshot"}
    fused = result["systems"]["zeroshot"]["interpolation"]
    assert 0.0 <= fused["alpha_bm25"] <= 1.0
    assert fused["dev_nDCG@10"] == max(fused["dev_curve"].values())
    assert result["dev"]["queries"] == 3
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "bm25.trec",
        "dev-bm25.trec",
        "dev-zeroshot.trec",
        "zeroshot.trec",
    ]
    assert (out / "ndcg.png").stat().st_size > 1000
    assert "interpolation" in (out / "results.md").read_text()


def test_flop_count_includes_cpu_attention():
    from bench_speed import count_flops

    lm = tiny_llama(len(tiny_tokenizer()))  # hidden 32, 2 layers, 4 heads (head dim 8), 2 KV heads, MLP 64
    ids = torch.arange(3, 13).unsqueeze(0)  # 10 tokens
    mask = torch.ones_like(ids)
    flops = count_flops(lambda: lm.base_model(input_ids=ids, attention_mask=mask))
    linear = 2 * 10 * 2 * (32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 64)
    attention = 2 * (2 * 2 * 4 * 10 * 10 * 8)  # per layer: QK^T and AV, each 2*B*H*T*T*D
    assert flops == linear + attention


def test_bench_table_scores_systems_alone_and_fused_with_intervals_and_tests(
    tmp_path, scifact, scifact_index, tiny_model_dir
):
    from pyserini_qpeft.model.checkpoint import save_checkpoint
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir))
    fused_config = QPEFTConfig(
        base_model=str(tiny_model_dir), variant="prompt", num_virtual_tokens=2, fusion_weight=0.6
    )
    save_checkpoint(QPEFTModel(lm, tokenizer, fused_config), tmp_path / "prompt")
    out, work = tmp_path / "table", tmp_path / "work"
    args = ["benchmarks/bench_table.py", "--beir", str(scifact), "--index", str(scifact_index), "--max-queries", "5"]
    args += ["--system", f"zeroshot={tiny_model_dir}", "--system", f"prompt={tmp_path / 'prompt'}", "--depth", "4"]
    args += ["--max-length", "128", "--dtype", "float32", "--work", str(work), "--out", str(out)]
    run_script(args, ROOT)
    table = json.loads((out / "results.json").read_text())["table"]
    assert list(table) == ["bm25", "zeroshot", "prompt", "prompt+bm25"]
    assert table["prompt+bm25"]["fusion_weight"] == 0.6 and "fusion_weight" not in table["zeroshot"]
    for name, row in table.items():
        low, high = row["nDCG@10"]["ci"]
        assert row["queries"] == 5 and low <= row["nDCG@10"]["mean"] <= high
        assert ("vs_bm25" in row["nDCG@10"]) == (name != "bm25")
    assert "vs_prompt" in table["zeroshot"]["nDCG@10"] and "vs_prompt" not in table["prompt"]["nDCG@10"]
    # Reranked depth 4 of BM25's 100: R@100 cannot move.
    assert len({round(row["R@100"]["mean"], 9) for row in table.values()}) == 1
    assert (out / "ndcg.png").stat().st_size > 1000 and "p vs prompt" in (out / "results.md").read_text()
    assert table["zeroshot"]["rerank_seconds_last_call"] > 0
    import gzip

    kept = {f.name: gzip.decompress(f.read_bytes()) for f in (out / "runs").glob("*.trec.gz")}
    assert set(kept) == {f"{name}.trec.gz" for name in table}
    assert kept["prompt+bm25.trec.gz"] == (work / "prompt+bm25.trec").read_bytes()
    # Each reranked run keeps how it was made beside it (a table reusing the run reads it from there).
    made = {f.name for f in (out / "runs").glob("*.timing.json")}
    assert made == {"zeroshot.timing.json", "prompt.timing.json"}
    assert json.loads((out / "runs" / "prompt.timing.json").read_text())["dtype"] == "float32"
    assert table["prompt"]["rerank_dtype"] == "float32" and "cpu, float32, " in (out / "results.md").read_text()
    # Each row scores its committed file, six-decimal scores and all.
    from pyserini_qpeft.runs.beir import load_qrels
    from pyserini_qpeft.runs.evaluation import evaluate
    from pyserini_qpeft.runs.trec import read_run

    qrels = load_qrels(scifact / "qrels" / "test.tsv")
    for name, row in table.items():
        (tmp_path / "kept.trec").write_bytes(kept[f"{name}.trec.gz"])
        file_run = read_run(tmp_path / "kept.trec")
        assert row["nDCG@10"]["mean"] == pytest.approx(evaluate(file_run, qrels, ["nDCG@10"])["nDCG@10"], abs=1e-12)
    before = (work / "zeroshot.trec").stat().st_mtime_ns
    run_script(args, ROOT)  # finished runs are reused, with the time of the call that made them
    assert (work / "zeroshot.trec").stat().st_mtime_ns == before
    again = json.loads((out / "results.json").read_text())["table"]
    assert again["zeroshot"]["rerank_seconds_last_call"] == table["zeroshot"]["rerank_seconds_last_call"]

    # The checkpoint shipped as a preset: same scores, a model card with its rows of the table and its recipe.
    (tmp_path / "prompt" / "training_summary.json").write_text(json.dumps({"train_queries": 7, "dev_queries": 3}))
    root = tmp_path / "presets"
    ship = ["benchmarks/experiments/ship_preset.py", "--checkpoint", str(tmp_path / "prompt"), "--name", "tiny-sci"]
    ship += ["--system", "prompt", "--table", str(out / "results.json"), "--recipe", "a test", "--root", str(root)]
    run_script(ship, ROOT)
    card = (root / "tiny-sci" / "README.md").read_text()
    ndcg = table["prompt+bm25"]["nDCG@10"]["mean"]
    assert "Trained with a test." in card and "7 training queries, 3 dev queries" in card
    assert f"| prompt+bm25 (w 0.60) | {ndcg:.4f}" in card and "| zeroshot |" in card and "| bm25 |" in card
    from pyserini_qpeft import QPEFTReranker

    docs = ["Aspirin lowers the risk of heart attack.", "Rivers flow to the sea."]
    shipped, original = (QPEFTReranker.from_pretrained(str(f)) for f in (root / "tiny-sci", tmp_path / "prompt"))
    assert shipped.fusion() == 0.6 and shipped.score("aspirin", docs) == pytest.approx(original.score("aspirin", docs))
    (root / "user").mkdir()
    (root / "user" / "notes.txt").write_text("mine")
    assert "not a checkpoint" in script_error([*ship[:4], "user", *ship[5:]])
    assert (root / "user" / "notes.txt").read_text() == "mine"


def test_hint_ablation_switches_hints_off_and_changes_k_then_shows_the_trained_hints(
    tmp_path, scifact, scifact_index, tiny_model_dir, bm25_scifact_run
):
    from pyserini_qpeft.model.checkpoint import save_checkpoint
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir))
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="r", num_virtual_tokens=2, num_hints=3)
    save_checkpoint(QPEFTModel(lm, tokenizer, config), tmp_path / "r")
    attention = QPEFTConfig(base_model=str(tiny_model_dir), variant="a", num_virtual_tokens=2, num_hints=3)
    save_checkpoint(QPEFTModel(lm, tokenizer, attention), tmp_path / "a")
    out = tmp_path / "ablation"
    args = ["benchmarks/experiments/hint_ablation.py", "--beir", str(scifact), "--index", str(scifact_index)]
    args += ["--run", str(bm25_scifact_run), "--checkpoint", f"r={tmp_path / 'r'}", "--max-queries", "4"]
    args += ["--depth", "4", "--max-length", "256", "--dtype", "float32", "--ks", "1,3"]
    args += ["--work", str(tmp_path / "work"), "--out", str(out)]
    run_script([*args, "--checkpoint", f"a={tmp_path / 'a'}"], ROOT)
    ablation = json.loads((out / "results.json").read_text())["ablation"]
    # Q-PEFT-A's hints are vectors: hints on and off, no k, and no hint tokens to show.
    assert list(ablation["a"]["settings"]) == ["hints as trained", "hints off"] and ablation["a"]["examples"] == []
    result = ablation["r"]
    assert list(result["settings"]) == ["hints as trained", "hints off", "k=1"]  # k=3 is the trained count
    assert (
        "vs_trained" in result["settings"]["hints off"] and "vs_trained" not in result["settings"]["hints as trained"]
    )
    assert len(result["examples"]) == 3 and all(len(e["hint_tokens"]) == 3 for e in result["examples"])
    runs = {label: Path(row["run"]).read_text() for label, row in result["settings"].items()}
    assert runs["hints off"] != runs["hints as trained"] != runs["k=1"]  # the hints reach the scores
    assert all(row["seconds"] > 0 for row in result["settings"].values())

    # Without --index the texts come from the BEIR corpus (no Java, as on a GPU machine): the same runs.
    corpus_args = [a for a in args if a not in ("--index", str(scifact_index))]
    corpus_args[corpus_args.index(str(tmp_path / "work"))] = str(tmp_path / "work-corpus")
    corpus_args[corpus_args.index(str(out))] = str(tmp_path / "ablation-corpus")
    run_script(corpus_args, ROOT)
    again = json.loads((tmp_path / "ablation-corpus" / "results.json").read_text())["ablation"]["r"]
    assert {label: Path(row["run"]).read_text() for label, row in again["settings"].items()} == runs
    assert again["examples"] == result["examples"]

    # A run of the trained setting over more queries (as the table's) serves that setting, cut to the queries.
    from pyserini_qpeft.runs.trec import read_run, write_run

    trained = read_run(runs_path := Path(result["settings"]["hints as trained"]["run"]))
    extra = next(qid for qid in read_run(bm25_scifact_run) if qid not in trained)
    write_run(tmp_path / "table-r.trec", {**trained, extra: read_run(bm25_scifact_run)[extra][:4]}, "r")
    reuse = [*args, "--trained-run", f"r={tmp_path / 'table-r.trec'}"]
    reuse[reuse.index(str(tmp_path / "work"))] = str(tmp_path / "work-reuse")
    reuse[reuse.index(str(out))] = str(tmp_path / "ablation-reuse")
    run_script(reuse, ROOT)
    reused = json.loads((tmp_path / "ablation-reuse" / "results.json").read_text())["ablation"]["r"]
    assert Path(reused["settings"]["hints as trained"]["run"]).read_text() == runs_path.read_text()
    assert reused["settings"]["hints off"]["vs_trained"] == result["settings"]["hints off"]["vs_trained"]
    assert reused["settings"]["hints as trained"]["seconds"] is None  # not reranked by this script

    # A rerun that reuses the runs keeps the time each one took.
    run_script([*args[: args.index("--out")], "--out", str(tmp_path / "ablation-again")], ROOT)
    kept = json.loads((tmp_path / "ablation-again" / "results.json").read_text())["ablation"]["r"]["settings"]
    assert {label: row["seconds"] for label, row in kept.items()} == {
        label: row["seconds"] for label, row in result["settings"].items()
    }

    # Other candidates are refused.
    write_run(tmp_path / "other.trec", {q: hits[1:] for q, hits in trained.items()}, "r")
    reuse[reuse.index(str(tmp_path / "work-reuse"))] = str(tmp_path / "work-other")
    reuse[reuse.index(f"r={tmp_path / 'table-r.trec'}")] = f"r={tmp_path / 'other.trec'}"
    refused = script_error(reuse)
    assert "other.trec: query" in refused and "same --depth" in refused


def test_gpu_rerank_writes_what_the_rerank_command_writes(
    tmp_path, capsys, scifact, scifact_index, tiny_model_dir, bm25_scifact_run
):
    from pyserini_qpeft.runs.trec import read_run, write_run

    from _cli import cli

    first = dict(list(read_run(bm25_scifact_run).items())[:3])
    run = tmp_path / "bm25.trec"
    write_run(run, first, "bm25")
    common = ["--model", str(tiny_model_dir), "--depth", "5", "--max-length", "128", "--dtype", "float32"]
    texts = ["--index", scifact_index, "--beir", scifact]  # the command reads texts from the index
    output = ["--output", tmp_path / "cli.trec", "--no-fusion", "--batch-size", "20"]
    code, _, err = cli(capsys, "rerank", "--run", run, *texts, *output, *common)
    assert code == 0, err
    args = ["benchmarks/gpu_rerank.py", "--beir", str(scifact), "--run", str(run), "--system", f"tiny={tiny_model_dir}"]
    args += ["--work", str(tmp_path / "gpu"), "--depth", "5", "--max-length", "128", "--dtype", "float32"]
    run_script([*args, "--device", "cpu"], ROOT)
    assert (tmp_path / "gpu" / "tiny.trec").read_text() == (tmp_path / "cli.trec").read_text()
    timing = json.loads((tmp_path / "gpu" / "tiny.timing.json").read_text())
    assert timing["device"] == "cpu" and timing["fingerprint"]["eos"] == [2]  # </s> of the tiny tokenizer


def test_dev_log_lists_finished_untrained_and_running_runs(tmp_path, tiny_model_dir):
    from pyserini_qpeft.model.checkpoint import save_checkpoint
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir))
    root = tmp_path / "work" / "checkpoints"
    recipe = {"lr": 0.03, "qd_lr": 0.001, "epochs": 12, "patience": 2, "batch_size": 4, "seed": 42}
    history = [{"epoch": 0, "dev_loss": 3.5}, {"epoch": 1, "dev_loss": 3.0}, {"epoch": 2, "dev_loss": 3.1}]
    curve = {"0.0": 0.61, "0.5": 0.7, "1.0": 0.65}
    for name, variant in (("prompt-v2", "prompt"), ("zeroshot-fused", "zeroshot"), ("r-v2-k3", "r")):
        config = QPEFTConfig(base_model=str(tiny_model_dir), variant=variant, num_virtual_tokens=2, num_hints=3)
        save_checkpoint(QPEFTModel(lm, tokenizer, config), root / name)
    (root / "prompt-v2" / "training_summary.json").write_text(
        json.dumps(
            {
                "train_queries": 32,
                "dev_queries": 8,
                "history": history,
                "training_config": recipe,
                "train_seconds_all_runs": 7200,
                "fusion": {"weight": 0.5, "dev_ndcg@10_by_weight": curve},
            }
        )
    )
    (root / "zeroshot-fused" / "fusion_summary.json").write_text(
        json.dumps({"dev_queries": 8, "fusion": {"weight": 0.5, "dev_ndcg@10_by_weight": curve}})
    )
    state = root / "r-v2-k3.train-state"
    state.mkdir()
    (state / "trainer_state.json").write_text(
        json.dumps({"epoch": 1, "step": 3, "history": history[:2], "training_config": recipe, "train_seconds": 60})
    )
    gpu = tmp_path / "work" / "checkpoints-gpu" / "prompt-v50"  # trained on a GPU machine (gpu_table.sh)
    gpu.parent.mkdir()
    shutil.copytree(root / "prompt-v2", gpu)
    summary = json.loads((gpu / "training_summary.json").read_text())
    (gpu / "training_summary.json").write_text(json.dumps({**summary, "device": "cuda:0"}))
    out = tmp_path / "log"
    run_script(["benchmarks/experiments/dev_log.py", "--work", str(tmp_path / "work"), "--out", str(out)], ROOT)
    runs = {r["run"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["prompt-v50"]["device"] == "cuda:0" and runs["prompt-v2"]["device"] == "cpu"
    assert runs["prompt-v2"]["best_epoch"] == 1 and runs["prompt-v2"]["dev_ndcg@10_fused"] == 0.7
    assert runs["prompt-v2"]["status"] == "finished" and runs["zeroshot-fused"]["dev_ndcg@10_alone"] == 0.61
    assert runs["r-v2-k3"]["status"] == "training (epoch 1, step 3)" and runs["r-v2-k3"]["num_hints"] == 3
    table = (out / "results.md").read_text()
    assert "| prompt-v2 | prompt | 2 |  | 0.03 / 0.001 | finished | 3.5000 3.0000 3.1000 (epoch 1) | 0.5 |" in table
    assert "| 2.00 |" in table and (out / "dev_loss.png").stat().st_size > 1000


def test_zeroshot_fusion_picks_on_dev_from_the_index_or_a_run_and_picks_again_for_a_trained_checkpoint(
    tmp_path, scifact, scifact_index, tiny_model_dir
):
    from pyserini_qpeft.cli.main import main
    from pyserini_qpeft.model.checkpoint import save_checkpoint
    from pyserini_qpeft.model.loading import load_causal_lm

    run = tmp_path / "bm25-train.trec"
    search = ["-q", "search", "--index", str(scifact_index), "--beir", str(scifact), "--split", "train"]
    assert main([*search, "--max-queries", "6", "--hits", "30", "--output", str(run)]) == 0
    common = ["benchmarks/experiments/zeroshot_fusion.py", "--beir", str(scifact), "--max-queries", "6"]
    common += ["--max-dev-queries", "2", "--depth", "4", "--max-length", "96", "--dtype", "float32", "--quiet"]
    run_script(
        [*common, "--index", str(scifact_index), "--model", str(tiny_model_dir), "--output", str(tmp_path / "a")], ROOT
    )
    run_script(
        [*common, "--first-stage-run", str(run), "--model", str(tiny_model_dir), "--output", str(tmp_path / "b")], ROOT
    )
    summaries = [json.loads((tmp_path / d / "fusion_summary.json").read_text()) for d in ("a", "b")]
    assert summaries[0]["fusion"] == summaries[1]["fusion"] and summaries[0]["dev_qids"] == summaries[1]["dev_qids"]

    lm, tokenizer = load_causal_lm(str(tiny_model_dir))
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="prompt", num_virtual_tokens=2, max_length=96)
    save_checkpoint(QPEFTModel(lm, tokenizer, config), tmp_path / "trained")
    refit = tmp_path / "trained-d4"
    run_script(
        [*common, "--first-stage-run", str(run), "--checkpoint", str(tmp_path / "trained"), "--output", str(refit)],
        ROOT,
    )
    summary = json.loads((refit / "fusion_summary.json").read_text())
    assert summary["variant"] == "prompt" and summary["source_checkpoint"] == str(tmp_path / "trained")
    assert QPEFTConfig.load(refit).fusion_weight == summary["fusion"]["weight"]
    assert QPEFTConfig.load(tmp_path / "trained").fusion_weight is None  # the source is left as it was


def test_experiments_take_trains_query_flags_and_defaults():
    """``experiments/train_split.py`` has ``train``'s flags and defaults for choosing its queries, so an experiment
    that passes them to :class:`QuerySelection` sees the queries a training run with those flags saw."""
    sys.path.insert(0, str(ROOT / "benchmarks" / "experiments"))
    from pyserini_qpeft.cli.main import build_parser
    from pyserini_qpeft.training.queries import QuerySelection

    import train_split

    ours = vars(train_split.selection_parser().parse_args([]))
    theirs = build_parser().parse_args(["-q", "train", "--beir", "b", "--output", "-", "--index", "i"])
    assert ours == {name: getattr(theirs, name) for name in ours}
    assert QuerySelection.from_args(theirs, seed=theirs.seed) == QuerySelection.from_args(
        argparse.Namespace(**ours, beir="b")
    )


def test_learning_curve_orders_points_by_training_queries_and_reads_the_summaries(tmp_path):
    def row(mean, p=None, weight=None):
        found = {"nDCG@10": {"mean": mean, "ci": [mean - 0.05, mean + 0.05]}}
        if p is not None:
            found["nDCG@10"]["vs_bm25"] = {"p": p}
        return {**found, "fusion_weight": weight} if weight is not None else found

    table = {
        "bm25": row(0.60),
        "prompt-40": row(0.62, 0.3),
        "prompt-40+bm25": row(0.66, 0.01, 0.4),
        "prompt": row(0.70, 0.02),
        "prompt-20": row(0.55, 0.2),
    }
    summary = {"best_dev_loss": 2.5, "history": [{}, {}, {}], "train_seconds_all_runs": 7200.0}
    summary["fusion"] = {"weight": 0.5, "dev_ndcg@10_by_weight": {"0.0": 0.71, "0.5": 0.74, "1.0": 0.7}}
    (tmp_path / "lc-prompt-40").mkdir()
    (tmp_path / "lc-prompt-40" / "training_summary.json").write_text(json.dumps(summary))
    # The full run's row names its checkpoint, whose older summary has the wall time of its one run.
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "training_summary.json").write_text(json.dumps({"wall_seconds_this_run": 3600.0}))
    table["prompt"]["model"] = str(tmp_path / "full")
    source = {"date": "today", "machine": "here", "queries": 300, "depth": 20, "table": table}
    (tmp_path / "table.json").write_text(json.dumps(source))
    out = tmp_path / "out"
    run_script(["benchmarks/experiments/learning_curve.py", "--table", str(tmp_path / "table.json"),
                "--checkpoints", str(tmp_path), "--out", str(out)], ROOT)  # fmt: skip
    points = json.loads((out / "results.json").read_text())["curve"]["prompt"]
    assert [p["train_queries"] for p in points] == [20, 40, 320]
    forty = points[1]
    assert forty["fused_ndcg@10"] == 0.66 and forty["fusion_weight"] == 0.4 and forty["fused_p_vs_bm25"] == 0.01
    assert forty["best_dev_loss"] == 2.5 and forty["epochs_run"] == 2 and forty["train_hours"] == 2.0
    assert forty["dev_ndcg@10_alone"] == 0.71 and forty["dev_ndcg@10_fused"] == 0.74
    assert points[0]["fused_ndcg@10"] is None and points[0]["dev_ndcg@10_alone"] is None
    assert points[2]["train_hours"] == 1.0 and points[0]["train_hours"] is None
    assert (
        "| prompt | 40 | 0.6200 [0.5700, 0.6700] | 0.3 | 0.6600 (0.40) | 0.01 | 2.5000 | 0.7100 / 0.7400 | 2 | 2.00 |"
        in (out / "results.md").read_text()
    )
    assert (out / "curve.png").stat().st_size > 1000


def test_merge_beir_keeps_each_parts_queries_and_negatives_and_trains(tmp_path, scifact, scifact_index, tiny_model_dir):
    """Two parts (scifact's train and test queries, as two collections would be) merge into one folder whose
    first-stage run gives each query the hits of its own index; `train` runs on it without Java."""
    from pyserini_qpeft.runs.beir import load_qrels, load_queries
    from pyserini_qpeft.runs.trec import read_run

    out = tmp_path / "mixed"
    args = ["benchmarks/experiments/merge_beir.py", "--out", str(out)]
    args += ["--part", "a", str(scifact), str(scifact_index), "--max-queries 6 --dev-fraction 0.5 --negative-depth 5"]
    args += ["--part", "b", str(scifact), str(scifact_index), "--split test --max-queries 4 --dev-fraction 0.5"]
    run_script(args, ROOT)
    parts = json.loads((out / "parts.json").read_text())
    assert {name: (p["train"], p["dev"]) for name, p in parts.items()} == {"a": (3, 3), "b": (2, 2)}
    train, dev = load_qrels(out / "qrels" / "train.tsv"), load_qrels(out / "qrels" / "dev.tsv")
    assert len(train) == 5 and len(dev) == 5 and not set(train) & set(dev)
    queries, originals = load_queries(out), {**load_queries(scifact, "train"), **load_queries(scifact, "test")}
    assert all(queries[qid] == originals[qid.split(":", 1)[1]] for qid in queries)
    run = read_run(out / "first-stage.trec")
    assert set(run) == set(queries) and all(d.startswith(q.split(":")[0] + ":") for q in run for d, _ in run[q])
    assert {len(run[q]) for q in run if q.startswith("a:")} == {5} and {len(run[q]) for q in run if q.startswith("b:")}
    from pyserini_qpeft.cli.main import main

    ckpt = tmp_path / "ckpt"
    command = ["-q", "train", "--beir", str(out), "--first-stage-run", str(out / "first-stage.trec"), "--output"]
    command += [str(ckpt), "--model", str(tiny_model_dir), "--variant", "prompt", "--num-virtual-tokens", "2"]
    command += ["--epochs", "1", "--max-length", "128", "--batch-size", "2", "--negatives", "1", "--fusion-depth", "3"]
    assert main(command) == 0
    summary = json.loads((ckpt / "training_summary.json").read_text())
    assert (summary["train_queries"], summary["dev_queries"], summary["fusion"]["dev_queries"]) == (5, 5, 5)
    assert "exists" in script_error(args)  # never into an existing folder


def test_verify_table_rescores_the_committed_runs_with_pytrec_eval(tmp_path):
    import gzip
    import math

    table = tmp_path / "table"
    (table / "runs").mkdir(parents=True)
    qrels = tmp_path / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\n")
    # q1: its one relevant document first (nDCG@10 1); q2 retrieves nothing and counts 0: mean 0.5.
    (table / "runs" / "bm25.trec.gz").write_bytes(gzip.compress(b"q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\n"))
    (table / "runs" / "lm.trec.gz").write_bytes(gzip.compress(b"q1 Q0 d2 1 -1.0 lm\nq1 Q0 d1 2 -2.0 lm\n"))
    # lm: q1's one relevant document at rank 2, 1/log2(3) of the ideal; q2 again 0.
    rows = {"bm25": {"nDCG@10": {"mean": 0.5}}, "lm": {"nDCG@10": {"mean": 0.5 / math.log2(3)}}}
    (table / "results.json").write_text(json.dumps({"queries": 2, "table": rows}))
    run_script(["benchmarks/verify_table.py", "--table", str(table), "--qrels", str(qrels)], ROOT)
    found = json.loads((table / "verification.json").read_text())["systems"]
    assert found["bm25"]["pytrec_eval"] == pytest.approx(0.5) and found["lm"]["agrees"]
    assert "| lm | 0.3155 | 0.3155 | yes |" in (table / "verification.md").read_text()

    rows["lm"]["nDCG@10"]["mean"] = 0.3156  # a figure the runs do not give
    (table / "results.json").write_text(json.dumps({"queries": 2, "table": rows}))
    assert script_error(["benchmarks/verify_table.py", "--table", str(table), "--qrels", str(qrels)], ROOT) == "1"
    assert "| lm | 0.3156 | 0.3155 | NO |" in (table / "verification.md").read_text()
    (table / "results.json").write_text(json.dumps({"queries": 3, "table": rows}))
    error = script_error(["benchmarks/verify_table.py", "--table", str(table), "--qrels", str(qrels)], ROOT)
    assert "covers 3 queries but" in error and "judges 2" in error
