"""QPEFTConfig: every field's type and value is checked, on construction and when read from a checkpoint."""

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from pyserini_qpeft.config import CONFIG_NAME, FORMAT_VERSION, QPEFTConfig
from pyserini_qpeft.errors import InputError

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "benchmarks" / "results" / "scifact_quality" / "checkpoints"
SHA = "ab" * 32


def write_config(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    data = {**asdict(QPEFTConfig(variant="r")), **fields}
    (folder / CONFIG_NAME).write_text(json.dumps(data))
    return folder


def test_config_validation_names_field_value_and_fix():
    with pytest.raises(InputError, match="QPEFTConfig.variant='x' is invalid: use one of zeroshot, prompt, r, a"):
        QPEFTConfig(variant="x")
    with pytest.raises(InputError, match="QPEFTConfig.k=0"):
        QPEFTConfig(variant="r", k=0)


def test_filter_stopwords_string_no_is_refused_not_read_as_true(tmp_path):
    folder = write_config(tmp_path / "ckpt", filter_stopwords="no")
    with pytest.raises(InputError) as error:
        QPEFTConfig.load(folder)
    message = str(error.value)
    assert str(folder / CONFIG_NAME) in message
    assert "QPEFTConfig.filter_stopwords='no' is invalid: expected true or false" in message
    assert "\n" not in message


def test_k_string_ten_is_an_input_error_not_a_type_error(tmp_path):
    folder = write_config(tmp_path / "ckpt", k="ten")
    with pytest.raises(InputError, match=r"qpeft_config.json: QPEFTConfig.k='ten' is invalid: expected an integer, got str"):
        QPEFTConfig.load(folder)


@pytest.mark.parametrize("field, value, expected", [
    ("k", True, "an integer"),  # bool is not an int here
    ("k", 10.0, "an integer"),
    ("k", None, "an integer"),
    ("num_virtual_tokens", "10", "an integer"),
    ("max_length", [512], "an integer"),
    ("format_version", "1", "an integer"),
    ("filter_stopwords", 1, "true or false"),
    ("filter_nonalpha", "true", "true or false"),
    ("filter_nonalpha", None, "true or false"),
    ("variant", 1, "a string"),
    ("base_model", None, "a string"),
    ("prompt_init_text", ["a"], "a string"),
    ("hint_backend", False, "a string"),
    ("base_fingerprint", 0, "a string"),
    ("files", [], "an object"),
])
def test_every_field_has_its_type_checked(field, value, expected):
    with pytest.raises(InputError, match=rf"QPEFTConfig\.{field}=.* is invalid: expected {expected}"):
        QPEFTConfig(**{field: value})


def test_committed_checkpoint_configs_still_load():
    folders = sorted(p for p in COMMITTED.iterdir() if (p / CONFIG_NAME).is_file())
    assert [p.name for p in folders] == ["a", "prompt", "r"]
    for folder in folders:
        config = QPEFTConfig.load(folder)
        assert config.variant == folder.name and config.format_version == 1 and config.files == {}
        assert config.filter_stopwords is True and config.k == 10


def test_saved_config_round_trips_and_carries_the_format_version(tmp_path):
    config = QPEFTConfig(variant="a", k=7, filter_stopwords=False, files={"qd_module.safetensors": {"size": 3, "sha256": SHA}})
    config.save(tmp_path)
    assert QPEFTConfig.load(tmp_path) == config
    assert json.loads((tmp_path / CONFIG_NAME).read_text())["format_version"] == FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] == [CONFIG_NAME]  # no temporary file left behind


@pytest.mark.parametrize("files, fragment", [
    ({"../../etc/passwd": {"size": 1, "sha256": SHA}}, "is not a checkpoint file"),
    ({"qd_module.safetensors": {"size": -1, "sha256": SHA}}, "must be"),
    ({"qd_module.safetensors": {"size": True, "sha256": SHA}}, "must be"),
    ({"qd_module.safetensors": {"size": 1, "sha256": "xyz"}}, "must be"),
    ({"qd_module.safetensors": {"size": 1}}, "must be"),
    ({"qd_module.safetensors": "abc"}, "must be"),
])
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
