"""QPEFTConfig and TrainingConfig: every field's type and value is checked, on construction and when read from a
checkpoint; configs of the old format are refused with how to convert them."""

import json
from pathlib import Path

import pytest

from pyserini_qpeft.errors import InputError
from pyserini_qpeft.model.config import CONFIG_NAME, FORMAT_VERSION, QPEFTConfig, TrainingConfig
from pyserini_qpeft.training import loop as training

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "benchmarks" / "results" / "scifact_quality" / "checkpoints"
SHA = "ab" * 32


def write_config(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    data = {**QPEFTConfig(variant="r").model_dump(), **fields}
    (folder / CONFIG_NAME).write_text(json.dumps(data))
    return folder


def test_config_validation_names_field_value_and_fix():
    with pytest.raises(
        InputError, match="QPEFTConfig.variant='x' is invalid: Input should be 'zeroshot', 'prompt', 'r' or 'a'"
    ):
        QPEFTConfig(variant="x")
    with pytest.raises(InputError, match="QPEFTConfig.num_hints=0 is invalid: use at least 1 hint token"):
        QPEFTConfig(variant="r", num_hints=0)
    with pytest.raises(
        InputError, match="QPEFTConfig.hint_backend='gpu' is invalid: Input should be 'auto', 'faiss' or 'torch'"
    ):
        QPEFTConfig(hint_backend="gpu")


def test_filter_stopwords_string_no_is_refused_not_read_as_true(tmp_path):
    folder = write_config(tmp_path / "ckpt", filter_stopwords="no")
    with pytest.raises(InputError) as error:
        QPEFTConfig.load(folder)
    message = str(error.value)
    assert str(folder / CONFIG_NAME) in message
    assert "QPEFTConfig.filter_stopwords='no' is invalid: Input should be a valid boolean, got str" in message
    assert "\n" not in message


def test_num_hints_string_ten_is_an_input_error_not_a_type_error(tmp_path):
    folder = write_config(tmp_path / "ckpt", num_hints="ten")
    with pytest.raises(
        InputError,
        match=r"qpeft_config.json: QPEFTConfig.num_hints='ten' is invalid: "
        r"Input should be a valid integer, got str",
    ):
        QPEFTConfig.load(folder)


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("num_hints", True, "a valid integer"),  # bool is not an int here
        ("num_hints", 10.0, "a valid integer"),
        ("num_hints", None, "a valid integer"),
        ("num_virtual_tokens", "10", "a valid integer"),
        ("max_length", [512], "a valid integer"),
        ("format_version", "1", "a valid integer"),
        ("filter_stopwords", 1, "a valid boolean"),
        ("filter_nonalpha", "true", "a valid boolean"),
        ("filter_nonalpha", None, "a valid boolean"),
        ("variant", 1, "'zeroshot', 'prompt', 'r' or 'a'"),
        ("base_model", None, "a valid string"),
        ("prompt_init_text", ["a"], "a valid string"),
        ("hint_backend", False, "'auto', 'faiss' or 'torch'"),
        ("base_fingerprint", 0, "a valid string"),
        ("files", [], "a valid dictionary"),
    ],
)
def test_every_field_has_its_type_checked(field, value, expected):
    with pytest.raises(InputError, match=rf"QPEFTConfig\.{field}=.* is invalid: Input should be {expected}"):
        QPEFTConfig(**{field: value})


def test_committed_checkpoint_configs_load():
    folders = sorted(p for p in COMMITTED.iterdir() if (p / CONFIG_NAME).is_file())
    assert [p.name for p in folders] == ["a", "prompt", "r"]
    for folder in folders:
        config = QPEFTConfig.load(folder)
        assert config.variant == folder.name and config.format_version == FORMAT_VERSION and config.files
        assert config.filter_stopwords is True and config.num_hints == 10


def test_saved_config_round_trips_and_carries_the_format_version(tmp_path):
    config = QPEFTConfig(
        variant="a", num_hints=7, filter_stopwords=False, files={"hint_module.safetensors": {"size": 3, "sha256": SHA}}
    )
    config.save(tmp_path)
    assert QPEFTConfig.load(tmp_path) == config
    saved = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert saved["format_version"] == FORMAT_VERSION
    assert saved["num_hints"] == 7 and "k" not in saved  # saving writes the new name
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_NAME]  # no temporary file left behind


@pytest.mark.parametrize(
    "files, fragment",
    [
        ({"../../etc/passwd": {"size": 1, "sha256": SHA}}, "is not a checkpoint file"),
        ({"hint_module.safetensors": {"size": -1, "sha256": SHA}}, "must be"),
        ({"hint_module.safetensors": {"size": True, "sha256": SHA}}, "must be"),
        ({"hint_module.safetensors": {"size": 1, "sha256": "xyz"}}, "must be"),
        ({"hint_module.safetensors": {"size": 1}}, "must be"),
        (
            {"hint_module.safetensors": "abc"},
            r"files\['hint_module.safetensors'\]: Input should be a valid dictionary, "
            "got str",
        ),
    ],
)
def test_files_manifest_entries_are_validated(files, fragment):
    with pytest.raises(InputError, match=f"QPEFTConfig.files=.*{fragment}"):
        QPEFTConfig(variant="r", files=files)


def test_config_file_errors_name_the_file_and_the_fix(tmp_path):
    folder = write_config(tmp_path / "ckpt")
    path = folder / CONFIG_NAME
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(InputError, match="format_version=99.*upgrade pyserini_qpeft"):
        QPEFTConfig.load(folder)
    path.write_text(json.dumps({**data, "format_version": 99, "new_knob": 1}))
    with pytest.raises(InputError, match="unknown keys \\['new_knob'\\]; upgrade"):
        QPEFTConfig.load(folder)
    path.write_text(json.dumps({**data, "new_knob": 1}))
    with pytest.raises(InputError, match="unknown keys \\['new_knob'\\]; remove them"):
        QPEFTConfig.load(folder)
    path.write_text(json.dumps([data]))
    with pytest.raises(InputError, match="qpeft_config.json: expected a JSON object, got list"):
        QPEFTConfig.load(folder)
    path.write_text("{")
    with pytest.raises(InputError, match="qpeft_config.json:1: invalid JSON"):
        QPEFTConfig.load(folder)
    with pytest.raises(InputError, match="not a Q-PEFT checkpoint|not found"):
        QPEFTConfig.load(tmp_path)


def test_a_format_1_config_is_refused_in_one_line_with_how_to_convert_it(tmp_path):
    """Format 1 wrote "k" for num_hints, a 16-hex fingerprint and no files manifest."""
    data = QPEFTConfig(variant="r", num_hints=4).model_dump()
    data["k"] = data.pop("num_hints")
    del data["files"]
    data.update(format_version=1, base_fingerprint="9e4c8ccaa2ab467b")
    (tmp_path / CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(InputError) as error:
        QPEFTConfig.load(tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / CONFIG_NAME}: format_version 1 is an old checkpoint format")
    assert "save_pretrained" in message and "\n" not in message
    with pytest.raises(InputError, match="QPEFTConfig.format_version=1 is invalid: format 1 is an old"):
        QPEFTConfig(format_version=1)


def test_a_config_with_k_is_refused(tmp_path):
    folder = write_config(tmp_path / "ckpt", k=4)
    with pytest.raises(InputError, match=r"unknown keys \['k'\]; remove them"):
        QPEFTConfig.load(folder)


def test_hint_backends_and_variants_come_from_their_modules():
    from typing import get_args

    from pyserini_qpeft.model.hint_selection import HINT_BACKENDS
    from pyserini_qpeft.model.variants import VARIANTS

    fields = QPEFTConfig.model_fields
    assert get_args(fields["hint_backend"].annotation) == HINT_BACKENDS
    assert get_args(fields["variant"].annotation) == tuple(VARIANTS)


def test_training_config_fields_are_what_saved_training_states_hold():
    """``Trainer.resume`` compares ``TrainingConfig.model_dump()`` with the saved one: the fields must not change."""
    assert TrainingConfig().model_dump() == {
        "epochs": 3,
        "lr": 3e-2,
        "hint_lr": 1e-3,
        "weight_decay": 0.0,
        "margin": 0.5,
        "batch_size": 4,
        "grad_accum": 1,
        "negatives": 3,
        "in_batch": 3,
        "dev_negatives": 3,
        "patience": 2,
        "seed": 42,
        "save_every": 20,
    }
    assert TrainingConfig is training.TrainingConfig
    assert training.state_dir("runs/ckpt") == Path("runs/ckpt.train-state")


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a": ', "}")])
def test_a_config_nested_100k_deep_is_one_line(tmp_path, opening, closing):
    """json.loads raised a bare RecursionError."""
    path = tmp_path / "qpeft_config.json"
    path.write_text(opening * 100_000 + "1" + closing * 100_000)
    with pytest.raises(InputError) as error:
        QPEFTConfig.load(tmp_path)
    assert str(error.value) == f"{path}: JSON lists and objects nested thousands deep; save the checkpoint again"
