"""Checkpoints: saving never touches the user's files and is crash-consistent; loading works in any dtype,
recognises the base model, and turns bad files, devices and dtypes into one-line errors."""

import copy
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.errors import InputError, QPEFTError
from pyserini_qpeft.model.checkpoint import load_checkpoint, save_checkpoint
from pyserini_qpeft.model.config import CONFIG_NAME, QPEFTConfig
from pyserini_qpeft.model.loading import resolve_device, resolve_dtype
from pyserini_qpeft.model.qpeft_model import QPEFTModel, base_fingerprint

from _tiny_models import tiny_llama, tiny_tokenizer

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "benchmarks" / "results" / "scifact_quality" / "checkpoints"
QUERY = "Does aspirin prevent heart attacks?"
DOCS = [
    "Aspirin lowers the risk of heart attack in adults with diabetes.",
    "Vitamin D deficiency is common among older people living in northern countries.",
]
OURS = {CONFIG_NAME, "adapter_config.json", "adapter_model.safetensors", "hint_module.safetensors"}
CARD = "README.md"  # the model card save_pretrained adds (save_checkpoint alone does not)


def trained(variant, salt=0, dtype=torch.float32, base_model="tiny"):
    """A model on the seed-0 tiny Llama whose trainable parts moved as if trained (``salt`` picks how)."""
    tokenizer = tiny_tokenizer()
    lm = tiny_llama(len(tokenizer), seed=0).to(dtype)
    config = QPEFTConfig(
        base_model=base_model, variant=variant, num_virtual_tokens=4, num_hints=3, max_length=96, filter_stopwords=False
    )
    model = QPEFTModel(lm, tokenizer, config)
    generator = torch.Generator().manual_seed(1000 + salt)
    with torch.no_grad():
        for name, param in model.trainable_parameters().items():
            if name == "hint_module.query_table.weight":  # training moves only some rows
                param[100 + salt : 300 + salt] += 0.05 * torch.randn(200, param.shape[1], generator=generator)
            else:
                param += 0.05 * torch.randn(param.shape, generator=generator)
    return model


def state(model):
    return {k: v.detach().float().cpu().clone() for k, v in model.trainable_parameters().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(folder):
    """Every file under ``folder`` (recursively) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def user_files(folder):
    """A folder that already holds a user's things, including names close to ours and to our temporary names."""
    folder.mkdir(parents=True)
    files = {
        "notes.txt": b"my notes\n",
        "config.json": b'{"mine": true}\n',
        "data/corpus.jsonl": b'{"_id": "1"}\n',
        ".qpeft_config.json.abc123.tmp": b"a user's file that looks like a temporary name\n",
        "qpeft_config.json.bak": b"backup\n",
        "adapter_model.safetensors.old": b"old adapter\n",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for sibling in (".saving", ".old"):  # the old code deleted these siblings
        (folder.parent / (folder.name + sibling)).mkdir()
        (folder.parent / (folder.name + sibling) / "keep.txt").write_text("keep")
    return files


# -- 1. saving into existing folders -------------------------------------------------------------------
def test_save_into_folder_holding_user_files_keeps_them_byte_identical(tmp_path):
    folder = tmp_path / "ckpt"
    files = user_files(folder)
    before = snapshot(tmp_path)
    model = trained("r")
    QPEFTReranker(model).save_pretrained(str(folder))
    QPEFTReranker(trained("a", salt=3)).save_pretrained(str(folder))  # and again, over our own checkpoint
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before  # every user file, and the siblings, untouched
    assert set(after) - set(before) == {f"ckpt/{name}" for name in OURS | {CARD}}
    assert set(os.listdir(folder)) == set(files) - {"data/corpus.jsonl"} | {"data"} | OURS | {CARD}
    loaded = load_checkpoint(folder, tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer())
    assert loaded.config.variant == "a"


def test_save_pretrained_into_cwd_like_folder_writes_only_our_files(tmp_path, monkeypatch):
    work = tmp_path / "work"
    user_files(work)
    (work / "src").mkdir()
    (work / "src" / "main.py").write_text("print('hi')\n")
    before = snapshot(tmp_path)
    monkeypatch.chdir(work)
    reranker = QPEFTReranker(trained("prompt"))
    reranker.save_pretrained(os.getcwd())
    reranker.save_pretrained(".")
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {f"work/{name}" for name in OURS - {"hint_module.safetensors"} | {CARD}}
    loaded = load_checkpoint(".", tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer())
    assert same_state(state(loaded), state(reranker.model))


@pytest.mark.parametrize("first, second", [("r", "prompt"), ("prompt", "r"), ("a", "zeroshot"), ("r", "a")])
def test_saving_twice_loads_the_second_variant_and_drops_our_stale_files(tmp_path, first, second):
    folder = tmp_path / "ckpt"
    (folder / "keep").mkdir(parents=True)
    save_checkpoint(trained(first, salt=1), folder)
    model = trained(second, salt=2)
    save_checkpoint(model, folder)
    expected = {CONFIG_NAME, "keep"}
    expected |= {"adapter_config.json", "adapter_model.safetensors"} if second != "zeroshot" else set()
    expected |= {"hint_module.safetensors"} if second in ("r", "a") else set()
    assert set(os.listdir(folder)) == expected
    loaded = load_checkpoint(folder, tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer())
    assert loaded.config.variant == second
    assert same_state(state(loaded), state(model))
    assert QPEFTReranker(loaded).score(QUERY, DOCS) == QPEFTReranker(model).score(QUERY, DOCS)


def test_hint_weights_under_their_earlier_name_load_and_a_save_renames_them(tmp_path):
    """Earlier versions named the hint module's weights ``qd_module.safetensors``: such a checkpoint loads to the
    same weights, and saving into its folder leaves the new name only."""
    folder = save_checkpoint(trained("r", salt=3), tmp_path / "old")
    (folder / "hint_module.safetensors").rename(folder / "qd_module.safetensors")
    config = json.loads((folder / CONFIG_NAME).read_text())
    config["files"]["qd_module.safetensors"] = config["files"].pop("hint_module.safetensors")
    (folder / CONFIG_NAME).write_text(json.dumps(config))
    lm, tokenizer = tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer()
    loaded = load_checkpoint(folder, lm, tokenizer)
    assert same_state(state(loaded), state(trained("r", salt=3)))
    save_checkpoint(loaded, folder)
    assert sorted(os.listdir(folder)) == sorted(OURS)
    assert same_state(state(load_checkpoint(folder, lm, tokenizer)), state(loaded))


def test_our_file_names_in_a_folder_without_our_config_are_never_replaced(tmp_path):
    folder = tmp_path / "peft-adapter"
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_bytes(b"someone else's adapter")
    (folder / "adapter_config.json").write_text("{}")
    before = snapshot(folder)
    with pytest.raises(
        InputError, match="holds adapter_config.json, adapter_model.safetensors but no qpeft_config.json"
    ):
        save_checkpoint(trained("prompt"), folder)
    assert snapshot(folder) == before


def test_saving_onto_an_existing_regular_file_is_refused(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"precious")
    with pytest.raises(InputError, match="model.bin: is a file, not a folder"):
        QPEFTReranker(trained("r")).save_pretrained(str(target))
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["model.bin"]


# -- 1. crash consistency ------------------------------------------------------------------------------
class Killed(BaseException):
    """A kill: not an Exception, so nothing on the way catches it."""


def kill_at_replace(monkeypatch, n, after):
    """Make the n-th os.replace of the process die before (or just after) renaming."""
    real = os.replace
    calls = [0]

    def replace(src, dst, *args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            if after:
                real(src, dst, *args, **kwargs)
            raise Killed(f"killed at os.replace #{n}")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return calls


@pytest.mark.parametrize("first, second", [("r", "prompt"), ("prompt", "r"), ("r", "r"), ("a", "r")])
def test_interrupted_save_never_loads_a_mix_of_old_and_new_files(tmp_path, monkeypatch, first, second):
    old, new = trained(first, salt=1), trained(second, salt=2)
    lm = tiny_llama(len(tiny_tokenizer()), seed=0)
    outcomes = set()
    for n in range(1, 5):  # a config and at most three files: four renames
        for after in (False, True):
            folder = tmp_path / f"{n}-{after}"
            save_checkpoint(old, folder)
            calls = kill_at_replace(monkeypatch, n, after)
            try:
                save_checkpoint(new, folder)
            except Killed:
                pass
            finally:
                monkeypatch.undo()
            if calls[0] < n:  # this save has fewer renames
                continue
            try:
                loaded = load_checkpoint(folder, lm, tiny_tokenizer())
            except InputError as exc:
                assert "the checkpoint is incomplete, save it again" in str(exc)
                outcomes.add("incomplete")
                continue
            if same_state(state(loaded), state(new)):
                assert loaded.config.variant == second
                outcomes.add("new")
            else:
                assert loaded.config.variant == first and same_state(state(loaded), state(old))
                outcomes.add("old")
    assert outcomes == {"old", "new", "incomplete"}


def test_folder_mixing_files_of_two_saves_is_refused_as_incomplete(tmp_path):
    lm = tiny_llama(len(tiny_tokenizer()), seed=0)
    save_checkpoint(trained("r", salt=1), tmp_path / "one")
    save_checkpoint(trained("r", salt=2), tmp_path / "two")
    for config_from, weights_from in (("one", "two"), ("two", "one")):
        mixed = tmp_path / f"mixed-{config_from}"
        shutil.copytree(tmp_path / config_from, mixed)
        shutil.copy(tmp_path / weights_from / "hint_module.safetensors", mixed / "hint_module.safetensors")
        with pytest.raises(
            InputError,
            match=r"hint_module.safetensors: its sha256 differs from the one "
            r"qpeft_config.json records .*; the checkpoint is incomplete, save it again",
        ):
            load_checkpoint(mixed, lm, tiny_tokenizer())
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tmp_path / "one" / CONFIG_NAME, partial)
    shutil.copy(tmp_path / "one" / "adapter_model.safetensors", partial)
    with pytest.raises(
        InputError, match="hint_module.safetensors|adapter_config.json: missing; the checkpoint is incomplete"
    ):
        load_checkpoint(partial, lm, tiny_tokenizer())


# -- 2. fingerprint: the base model, whatever its dtype ------------------------------------------------
def test_fingerprint_is_the_same_in_every_dtype_and_differs_between_models():
    lm = tiny_llama(len(tiny_tokenizer()), seed=0)
    found = base_fingerprint(lm)
    assert found.startswith("v2:") and len(found) == 19
    for dtype in (torch.bfloat16, torch.float16):
        assert base_fingerprint(tiny_llama(len(tiny_tokenizer()), seed=0).to(dtype)) == found
    assert base_fingerprint(tiny_llama(len(tiny_tokenizer()), seed=5)) != found
    assert base_fingerprint(tiny_llama(len(tiny_tokenizer()) + 8, seed=0)) != found


@pytest.mark.parametrize(
    "saved_in, loaded_in",
    [
        ("float32", "bfloat16"),
        ("float32", "float16"),
        ("bfloat16", "float32"),
        ("bfloat16", "float16"),
    ],
)
@pytest.mark.parametrize("variant", ["prompt", "r", "a"])
def test_checkpoint_saved_in_one_dtype_loads_in_another(tmp_path, tiny_model_dir, variant, saved_in, loaded_in):
    model = trained(variant, dtype=getattr(torch, saved_in), base_model=str(tiny_model_dir))
    original = QPEFTReranker(model)
    scores = original.score(QUERY, DOCS)
    original.save_pretrained(str(tmp_path / "ckpt"))
    loaded = QPEFTReranker.from_pretrained(str(tmp_path / "ckpt"), device="cpu", dtype=loaded_in)
    assert loaded.model.lm.dtype == getattr(torch, loaded_in)
    assert loaded.score(QUERY, DOCS) == pytest.approx(scores, abs=2e-3)
    mine, theirs = state(model), state(loaded.model)
    assert mine.keys() == theirs.keys()
    for name in mine:
        if name != "hint_module.query_table.weight":
            assert torch.equal(mine[name], theirs[name]), name
    if variant in ("r", "a"):  # trained rows exactly as saved; the others follow the loading dtype's embeddings
        table, saved_table = theirs["hint_module.query_table.weight"], mine["hint_module.query_table.weight"]
        assert torch.equal(table[100:300], saved_table[100:300])
        embeddings = loaded.model.lm.get_input_embeddings().weight.detach().float()
        assert torch.equal(table[:100], embeddings[:100]) and torch.equal(table[300:], embeddings[300:])


def test_a_different_random_lm_is_refused_as_a_different_model(tmp_path):
    save_checkpoint(trained("r"), tmp_path / "ckpt")
    for dtype in (torch.float32, torch.bfloat16):
        other = tiny_llama(len(tiny_tokenizer()), seed=5).to(dtype)
        with pytest.raises(InputError) as error:
            load_checkpoint(tmp_path / "ckpt", other, tiny_tokenizer())
        message = str(error.value)
        assert "trained on 'tiny'" in message and "the loaded LM is a different model" in message
        assert "its own base model" in message and "dtype" not in message


def test_a_tokenizer_that_frames_pairs_differently_is_refused(tmp_path):
    """A tokenizer with another EOS (as a faulty GGUF conversion gives) would shift every score."""
    save_checkpoint(trained("prompt"), tmp_path / "ckpt")
    recorded = QPEFTConfig.load(tmp_path / "ckpt").tokenizer_fingerprint
    assert recorded.startswith("bos=") and recorded.endswith("eos=2")  # </s> of the tiny tokenizer
    lm = tiny_llama(len(tiny_tokenizer()), seed=0)
    assert load_checkpoint(tmp_path / "ckpt", lm, tiny_tokenizer()).config.tokenizer_fingerprint == recorded
    other = copy.deepcopy(tiny_tokenizer())  # tiny_tokenizer() is shared: change a copy
    other.eos_token = "<s>"
    with pytest.raises(InputError) as error:
        load_checkpoint(tmp_path / "ckpt", lm, other)
    message = str(error.value)
    assert recorded in message and "eos=1" in message and "PYSERINI_QPEFT_CACHE" in message


@pytest.mark.integration
@pytest.mark.parametrize(
    "variant, dtype", [("a", "float32"), ("r", "float32"), ("prompt", "float32"), ("a", "float16")]
)
def test_committed_bf16_checkpoints_load_with_the_default_model(variant, dtype):
    reranker = QPEFTReranker.from_pretrained(str(COMMITTED / variant), device="cpu", dtype=dtype)
    assert reranker.config.variant == variant and reranker.config.base_fingerprint.startswith("v2:")
    scores = reranker.score("Aspirin prevents heart attacks", DOCS)
    assert all(-20 < s < 0 for s in scores) and scores[0] > scores[1]


# -- 4. loading errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_truncated_or_garbage_weights_file_is_a_one_line_input_error(tmp_path, damage):
    folder = save_checkpoint(trained("r"), tmp_path / "ckpt")
    path = folder / "hint_module.safetensors"
    data = path.read_bytes()
    path.write_bytes(b"\x00garbage bytes, not safetensors" * 3 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(InputError) as error:
        load_checkpoint(folder, tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer())
    message = str(error.value)
    # The config records each file's size, checked before the file is read.
    assert message.startswith(f"{path}: {path.stat().st_size} bytes, but")
    assert message.endswith(("save the checkpoint again", "save it again"))
    assert "\n" not in message


def test_missing_weights_file_says_the_checkpoint_is_incomplete(tmp_path):
    folder = save_checkpoint(trained("r"), tmp_path / "ckpt")
    (folder / "hint_module.safetensors").unlink()
    with pytest.raises(InputError, match="hint_module.safetensors: missing; the checkpoint is incomplete"):
        load_checkpoint(folder, tiny_llama(len(tiny_tokenizer()), seed=0), tiny_tokenizer())


def _bin_only_model(folder, extra=None):
    tokenizer = tiny_tokenizer()
    lm = tiny_llama(len(tokenizer), seed=3)
    folder.mkdir()
    lm.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    weights = lm.state_dict()
    if extra is not None:
        weights["training_args"] = extra
    torch.save(weights, folder / "pytorch_model.bin")
    return lm, tokenizer


def test_model_folder_with_only_pytorch_model_bin_loads_with_weights_only(tmp_path):
    lm, tokenizer = _bin_only_model(tmp_path / "lm")
    loaded = QPEFTReranker.from_pretrained(str(tmp_path / "lm"), device="cpu", dtype="float32", max_length=128)
    direct = QPEFTReranker.from_lm(lm, tokenizer, QPEFTConfig(max_length=128))
    assert loaded.score(QUERY, DOCS) == pytest.approx(direct.score(QUERY, DOCS), abs=1e-6)


def test_pytorch_model_bin_that_weights_only_refuses_is_a_one_line_error_with_a_recipe(tmp_path):
    import argparse

    _bin_only_model(tmp_path / "lm", extra=argparse.Namespace(lr=0.1))  # a pickled object, not a tensor
    with pytest.raises(QPEFTError) as error:
        QPEFTReranker.from_pretrained(str(tmp_path / "lm"), device="cpu")
    message = str(error.value)
    assert "\n" not in message and "pytorch_model.bin" in message and "weights_only=True" in message
    assert "convert it to safetensors" in message and "save_file(" in message


def test_truncated_pytorch_model_bin_is_a_one_line_error(tmp_path):
    _bin_only_model(tmp_path / "lm")
    weights = tmp_path / "lm" / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(
        QPEFTError, match="pytorch_model.bin in .* is damaged .*; download or save the model again"
    ) as error:
        QPEFTReranker.from_pretrained(str(tmp_path / "lm"), device="cpu")
    assert "\n" not in str(error.value)


def test_folder_with_our_file_names_but_no_config_is_neither_checkpoint_nor_model(tmp_path):
    (tmp_path / "adapter_model.safetensors").write_bytes(b"x")
    with pytest.raises(QPEFTError, match="holds adapter_model.safetensors but no qpeft_config.json and no config.json"):
        QPEFTReranker.from_pretrained(str(tmp_path), device="cpu")


def test_corrupt_model_safetensors_is_a_one_line_error(tmp_path, tiny_model_dir):
    folder = tmp_path / "lm"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(QPEFTError, match="not a valid safetensors file") as error:
        QPEFTReranker.from_pretrained(str(folder), device="cpu")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("device", ["gpu0", "cuda:x", "", "cpu0", "cuda:-1", "torch.cuda", 0])
def test_invalid_device_string_is_an_input_error_naming_the_valid_forms(tiny_model_dir, device):
    with pytest.raises(
        InputError, match=r"device=.* is not a valid device; use cpu, cuda, cuda:N \(N a GPU index\) or mps"
    ):
        QPEFTReranker.from_pretrained(str(tiny_model_dir), device=device)
    with pytest.raises(InputError, match=r"^--device="):
        resolve_device(device, "--device")


def test_valid_devices_resolve():
    assert resolve_device("cpu") == "cpu" and resolve_device(torch.device("cpu")) == "cpu"
    assert resolve_device(None) in ("cpu", "cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_asking_for_cuda_without_cuda_is_a_clear_error(tiny_model_dir, device):
    with pytest.raises(InputError, match=r"device=.*: CUDA is not available \(.*\); use cpu"):
        QPEFTReranker.from_pretrained(str(tiny_model_dir), device=device)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("float", torch.float32),
        ("bfloat16", torch.bfloat16),
        ("bf16", torch.bfloat16),
        ("float16", torch.float16),
        ("fp16", torch.float16),
        ("half", torch.float16),
        (torch.bfloat16, torch.bfloat16),
        (None, None),
    ],
)
def test_dtype_names_and_aliases_resolve(value, expected):
    assert resolve_dtype(value) == expected


@pytest.mark.parametrize("value", ["nn", "bf17", "float64", "int8", "Tensor", "torch.float32", "", torch.float64, 16])
def test_invalid_dtype_is_an_input_error_naming_the_allowed_values(tiny_model_dir, value):
    with pytest.raises(
        InputError,
        match=r"dtype=.* is not a supported dtype; use auto, float32, bfloat16 or float16 "
        r"\(or fp32, float, bf16, fp16, half\)",
    ):
        QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu", dtype=value)


def test_dtype_alias_loads_the_lm_in_that_dtype(tiny_model_dir):
    reranker = QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu", dtype="bf16", max_length=64)
    assert reranker.model.lm.dtype == torch.bfloat16


# -- 5. crafted checkpoints: refused before any large read or allocation, within bounded memory and time --------
# Loads each folder it is given and prints the outcome and the peak memory of that load alone: Linux resets the
# peak (VmHWM) before each; elsewhere the caller gives one folder per process and the process's peak counts.
LOAD_AND_MEASURE = """
import json, resource, sys
from pathlib import Path
from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.errors import QPEFTError
reset, status = Path("/proc/self/clear_refs"), Path("/proc/self/status")
for folder in sys.argv[1:]:
    if reset.exists():
        reset.write_text("5")
    try:
        QPEFTReranker.from_pretrained(folder, device="cpu", dtype="float32")
        outcome = "loaded"
    except QPEFTError as exc:
        outcome = str(exc)
    if reset.exists():
        peak = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "peak_kib": peak}), flush=True)
"""


def _load_in_a_process(*folders) -> list[dict]:
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", LOAD_AND_MEASURE, *map(str, folders)]
    done = subprocess.run(command, capture_output=True, timeout=120, env=env, check=True)  # the FIFO: a hang fails
    return [json.loads(line) for line in done.stdout.decode().splitlines() if line.startswith("{")]


def _craft(folder, case):
    weights = folder / "hint_module.safetensors"
    if case.startswith("config:"):
        config = json.loads((folder / CONFIG_NAME).read_text())
        config.update(json.loads(case[len("config:") :]))
        (folder / CONFIG_NAME).write_text(json.dumps(config))
    elif case == "sparse 30 GB weights":
        os.truncate(weights, 30 * 2**30)
    elif case == "weights link to /dev/zero":
        weights.unlink()
        weights.symlink_to("/dev/zero")
    elif case == "weights are a FIFO":  # from_pretrained used to wait on it forever
        weights.unlink()
        os.mkfifo(weights)


CRAFTED = {
    "config:" + json.dumps({"num_virtual_tokens": 10**12}): "num_virtual_tokens=1000000000000 is invalid",
    "config:" + json.dumps({"num_virtual_tokens": 500_000, "max_length": 10**6}): "prompt_embeddings of shape (2,",
    "config:" + json.dumps({"num_hints": 10**9, "max_length": 2 * 10**9}): "num_hints=1000000000 is invalid",
    "config:" + json.dumps({"mlp_hidden": 10**9}): "has shape (32,), but qpeft_config.json's sizes",
    "sparse 30 GB weights": "32212254720 bytes, but qpeft_config.json records",
    "weights link to /dev/zero": "hint_module.safetensors: not a regular file",
    "weights are a FIFO": "hint_module.safetensors: not a regular file",
}


@pytest.fixture(scope="module")
def loads(tmp_path_factory, tiny_model_dir):
    """A Q-PEFT-R checkpoint on the tiny model and a crafted copy of it per case, loaded in a fresh process (one for
    all where the peak memory can be reset between loads): {"normal" or case: outcome and peak memory}."""
    from pyserini_qpeft.model.loading import load_causal_lm

    lm, tokenizer = load_causal_lm(str(tiny_model_dir), device="cpu", dtype="float32")
    config = QPEFTConfig(base_model=str(tiny_model_dir), variant="r", num_hints=3, max_length=128, num_virtual_tokens=2)
    root = tmp_path_factory.mktemp("ckpt")
    QPEFTReranker.from_lm(lm, tokenizer, config).save_pretrained(str(root / "normal"))
    folders = {"normal": root / "normal"}
    for number, case in enumerate(CRAFTED):
        folders[case] = root / f"crafted-{number}"
        shutil.copytree(root / "normal", folders[case])
        _craft(folders[case], case)
    if Path("/proc/self/clear_refs").exists():
        return dict(zip(folders, _load_in_a_process(*folders.values())))
    return {name: _load_in_a_process(folder)[0] for name, folder in folders.items()}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoint_is_refused_in_bounded_memory_and_time(loads, case):
    assert loads["normal"]["outcome"] == "loaded"
    assert CRAFTED[case] in loads[case]["outcome"] and "\n" not in loads[case]["outcome"]
    assert loads[case]["peak_kib"] < loads["normal"]["peak_kib"] + 64 * 1024, "more than 64 MiB above a normal load"
