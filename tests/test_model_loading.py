"""``--dtype auto``: the choice follows the hardware's answers (faked here), is logged, and is every default."""

import logging

import pytest
import torch

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.loading import auto_dtype, dtype_name, load_causal_lm, resolve_dtype


def fake_cpu(monkeypatch, avx512_bf16: bool, amx: bool, mkldnn: bool = True) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    # oneDNN answers yes on CPUs that only emulate bf16; auto must not listen to it.
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: mkldnn, raising=False)


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected",
    [(False, False, torch.float32), (True, False, torch.bfloat16), (False, True, torch.bfloat16)],
)
def test_auto_on_the_cpu_follows_native_bf16_not_onednn(monkeypatch, avx512_bf16, amx, expected):
    fake_cpu(monkeypatch, avx512_bf16, amx, mkldnn=True)
    chosen, why = auto_dtype("cpu")
    assert chosen == expected
    assert ("AVX512-BF16 yes" in why) == avx512_bf16 and ("AMX yes" in why) == amx


@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_on_cuda_follows_the_device(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    fake_cpu(monkeypatch, avx512_bf16=not bf16, amx=False)  # the CPU's answer must not matter on CUDA
    chosen, why = auto_dtype("cuda:0")
    assert chosen == expected and "CUDA" in why


def test_auto_elsewhere_is_float32():
    assert auto_dtype("mps")[0] == torch.float32


@pytest.mark.parametrize("value", [None, "auto"])
def test_auto_and_none_defer_to_the_hardware(value):
    assert resolve_dtype(value) is None


def test_bad_dtype_names_the_argument_and_lists_auto():
    with pytest.raises(InputError, match=r"--dtype='int8' is not a supported dtype; use auto, float32"):
        resolve_dtype("int8", "--dtype")


@pytest.mark.parametrize("native, expected", [(False, torch.float32), (True, torch.bfloat16)])
def test_loading_with_auto_logs_the_choice_and_why(monkeypatch, caplog, tiny_model_dir, native, expected):
    fake_cpu(monkeypatch, avx512_bf16=native, amx=False)
    with caplog.at_level(logging.INFO, logger="pyserini_qpeft.model.loading"):
        lm, _ = load_causal_lm(str(tiny_model_dir), device="cpu")
    assert lm.dtype == expected
    name = dtype_name(expected)
    assert any(f"dtype auto: {name}, because the CPU" in r.getMessage() for r in caplog.records)


def test_from_pretrained_defaults_to_auto(monkeypatch, tiny_model_dir):
    fake_cpu(monkeypatch, avx512_bf16=False, amx=False)
    assert QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu").model.lm.dtype == torch.float32
    fake_cpu(monkeypatch, avx512_bf16=True, amx=False)
    assert QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu").model.lm.dtype == torch.bfloat16
    explicit = QPEFTReranker.from_pretrained(str(tiny_model_dir), device="cpu", dtype="float32")
    assert explicit.model.lm.dtype == torch.float32


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json"])
def test_a_model_json_file_nested_100k_deep_is_one_line(tmp_path, tiny_model_dir, name):
    """transformers' json.load raised a bare RecursionError."""
    import shutil

    from pyserini_qpeft.errors import QPEFTError

    folder = tmp_path / "deep"
    shutil.copytree(tiny_model_dir, folder)
    (folder / name).write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(QPEFTError) as error:
        load_causal_lm(str(folder), device="cpu")
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "nested thousands deep" in message and str(folder) in message
    if name == "config.json":
        assert message.startswith(f"{folder / name}: JSON lists and objects nested thousands deep")
