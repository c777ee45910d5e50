"""Shared pieces of the benchmarks: machine description, peak memory, result files."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shlex
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import torch

from pyserini_qpeft.files.atomic import atomic_write

PACKAGES = ["torch", "transformers", "peft", "faiss-cpu", "pyserini", "pyserini_qpeft"]


def command_line() -> str:
    """The command that is running, as a user would type it from the repository root."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def machine_info(device: str = "cpu") -> dict[str, object]:
    """Date, machine (CPU or GPU name, cores, memory, torch threads) and package versions."""
    cpu = f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()} GiB, {torch.get_num_threads()} torch threads"
    machine = cpu
    if device.startswith("cuda") and torch.cuda.is_available():
        machine = f"{torch.cuda.get_device_name(0)} (host: {cpu})"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "versions": versions(),
    }


def resolved_dtype(name: str, device: str = "cpu") -> str:
    """The dtype ``name`` loads the LM in on ``device`` ("auto" resolved as the library resolves it)."""
    from pyserini_qpeft.model.loading import auto_dtype, dtype_name, resolve_dtype

    return dtype_name(resolve_dtype(name) or auto_dtype(device)[0])


def format_p(value: float | None) -> str:
    """A p-value for a table: two significant digits, scientific below 0.001, blank for None."""
    return "" if value is None else f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


def paired_t_test(a, b) -> tuple[float, float]:
    """Two-sided paired t-test (scipy): (t, p)."""
    from scipy import stats

    result = stats.ttest_rel(a, b)
    return float(result.statistic), float(result.pvalue)


def write_results(out: Path, result: dict, markdown: list[str]) -> None:
    """``out/results.json`` and ``out/results.md`` (each written atomically), then the PNG plots."""
    from plots import plot_results

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "results.json") as handle:
        handle.write(json.dumps(result, indent=2) + "\n")
    with atomic_write(out / "results.md") as handle:
        handle.write("\n".join(markdown) + "\n")
    plot_results(out)


def timing_path(run: Path) -> Path:
    """Where the timing of the call that wrote ``run`` (``NAME.trec``) is kept: ``NAME.timing.json`` beside it."""
    return run.with_suffix(".timing.json")


def write_timing(run: Path, seconds: float, **extra: object) -> None:
    """Record how long the call that wrote ``run`` took, and on how many threads, so reruns that reuse it keep it."""
    timing = {"seconds_last_call": round(seconds, 1), "threads": torch.get_num_threads(), **extra}
    with atomic_write(timing_path(run)) as handle:
        handle.write(json.dumps(timing) + "\n")


def read_timing(run: Path) -> dict:
    """The timing recorded for ``run`` by :func:`write_timing`, or ``{}`` when none was."""
    path = timing_path(run)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


_HWM = re.compile(r"VmHWM:\s+(\d+)\s+kB")
_RSS = re.compile(r"VmRSS:\s+(\d+)\s+kB")


def current_rss_mib() -> float | None:
    """The resident set size now (Linux), e.g. with only the model loaded."""
    try:
        match = _RSS.search(Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


class PeakMemory:
    """Peak memory of a code section: resident set (Linux, reset through /proc/self/clear_refs) and CUDA.

    Where the peak cannot be reset, the process's lifetime peak is reported (``resettable`` False).
    """

    def __init__(self, device: str = "cpu"):
        self.cuda = device.startswith("cuda")
        self.resettable = True

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
        except OSError:
            self.resettable = False
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc) -> None:
        self.rss_mib = self._rss_peak_mib()
        self.cuda_mib = torch.cuda.max_memory_allocated() / 2**20 if self.cuda else None

    @staticmethod
    def _rss_peak_mib() -> float:
        try:
            match = _HWM.search(Path("/proc/self/status").read_text())
            if match:
                return int(match.group(1)) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
