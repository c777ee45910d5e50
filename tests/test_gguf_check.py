"""pyserini_qpeft.model.gguf_check: a damaged .gguf model is one line naming the file and what is wrong."""

import pytest

from pyserini_qpeft.errors import QPEFTError
from pyserini_qpeft.model.gguf_check import check_gguf_header, open_gguf
from pyserini_qpeft.model.loading import gguf_special_token_ids, resolve_model

from _tiny_models import tiny_gguf


@pytest.fixture
def valid(tmp_path):
    return tiny_gguf(tmp_path / "tiny.gguf")


def test_a_whole_file_opens_and_gives_its_special_tokens(valid):
    reader = open_gguf(valid)
    assert [t.name for t in reader.tensors] == ["token_embd.weight", "output.weight"]
    assert gguf_special_token_ids(reader) == gguf_special_token_ids(valid) == {"eos_token": 2}


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.1, 0.5, 0.9, 0.999])
def test_a_cut_short_file_is_one_line_naming_it(valid, fraction):
    data = valid.read_bytes()
    cut = valid.with_name("cut.gguf")
    cut.write_bytes(data[: max(5, int(len(data) * fraction))])
    with pytest.raises(QPEFTError) as error:
        open_gguf(cut)
    message = str(error.value)
    assert message.startswith(f"{cut}: a ") and "cut-short GGUF model" in message and "download it again" in message
    assert len(message.splitlines()) == 1 and len(message) < 500


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "an empty file, not a GGUF model"),
        (b"GGUF\x03" + b"garbage, not a header" * 3, "a damaged or cut-short GGUF model"),
        (b"PK\x03\x04 a zip file", "not a GGUF model (it starts with b'PK\\x03\\x04', not b'GGUF')"),
    ],
)
def test_an_empty_foreign_or_garbage_file_is_one_line(tmp_path, content, says):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(QPEFTError) as error:
        open_gguf(path)
    assert str(error.value).startswith(f"{path}: {says}"), str(error.value)


def test_resolve_model_checks_a_damaged_gguf_before_converting(tmp_path, valid, monkeypatch):
    """The default model cut at 1 MB or 50 MB gave a struct.error or 'cannot reshape' traceback from the load."""
    monkeypatch.setenv("PYSERINI_QPEFT_CACHE", str(tmp_path / "cache"))
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(valid.read_bytes()[:5000])
    with pytest.raises(QPEFTError, match=r"cut.gguf: a damaged or cut-short GGUF model \(5000 bytes"):
        resolve_model(str(cut))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(QPEFTError, match=r"empty.gguf: an empty file, not a GGUF model"):
        resolve_model(str(empty))
    assert not (tmp_path / "cache").exists()  # nothing converted, nothing cached


def test_a_folder_is_not_a_gguf_file(tmp_path):
    with pytest.raises(QPEFTError, match="not a regular file"):
        check_gguf_header(tmp_path)
