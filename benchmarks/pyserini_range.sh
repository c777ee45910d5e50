#!/usr/bin/env bash
# Prove the Pyserini range in setup.cfg: for each VERSION, a fresh virtual environment gets torch, that Pyserini,
# then this package (a plain `pip install .`, as a user would); the script checks that Pyserini kept its version,
# then runs the tests that touch Pyserini (index, search, hits into rerank, names from Pyserini's registry and
# cache, the user's own `from pyserini.search.lucene import LuceneSearcher` beside the plugin).
#
#   bash benchmarks/pyserini_range.sh [VERSION ...]      (default: the lowest and highest claimed)
#
# Environments are made afresh under runs/pyserini_range/ (ignored; the script replaces only its own); logs and a summary under OUT
# (default benchmarks/results/pyserini_range/). Not part of `make test`: each environment takes minutes to build.
set -uo pipefail
cd "$(dirname "$0")/.."
LOW=0.43.0
HIGH=1.6.0
VERSIONS=("$@")
[ $# -eq 0 ] && VERSIONS=("$LOW" "$HIGH")
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
OUT=${OUT:-benchmarks/results/pyserini_range}
ENVS=${ENVS:-runs/pyserini_range}
TESTS=(tests/test_java.py tests/test_lucene_index.py tests/test_cli_index.py tests/test_cli_search.py
       tests/test_cli_rerank.py tests/test_pyserini_names.py)
mkdir -p "$OUT" "$ENVS"
summary="$OUT/summary.md"
[ -f "$summary" ] || printf '| pyserini | python | java | install (s) | kept version | tests | test time (s) |\n| --- | --- | --- | --- | --- | --- | --- |\n' > "$summary"
status=0
for version in "${VERSIONS[@]}"; do
  venv="$ENVS/pyserini-$version"
  log="$OUT/pyserini-$version.log"
  {
    echo "# pyserini $version: $(date -u +%FT%TZ) on $(uname -srm), $("$PYTHON" --version 2>&1), $(nproc) CPUs"
    start=$(date +%s)
    rm -rf "$venv"  # fresh each time: an environment this script made under $ENVS
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "$TORCH_SPEC"
    "$venv/bin/python" -m pip install -q "pyserini==$version"
    "$venv/bin/python" -m pip install -q ".[test]"  # the tests use pytest-xdist's worker_id
    install_s=$(( $(date +%s) - start ))
    echo "install: ${install_s} s"
  } 2>&1 | grep -v "^WARNING: Location 'file://" > "$log"
  install_s=$(sed -n 's/^install: \([0-9]*\) s$/\1/p' "$log")
  installed=$("$venv/bin/python" -m pip show pyserini 2>/dev/null | sed -n 's/^Version: //p')
  kept=no
  [ "$installed" = "$version" ] && kept=yes
  echo "pip show pyserini after installing pyserini_qpeft: ${installed:-none} (kept: $kept)" >> "$log"
  "$venv/bin/python" -m pip freeze 2>&1 | grep -v "^WARNING: Location" >> "$log"
  java=$(cd /tmp && "$OLDPWD/$venv/bin/python" -c 'from pyserini_qpeft.lucene.java import find_java; print(find_java().major)' 2>/dev/null)
  start=$(date +%s)
  # The installed package is tested, not the source tree: the pytest script (unlike `python -m pytest`) does not
  # put the repository root on sys.path.
  echo "testing $(cd /tmp && "$OLDPWD/$venv/bin/python" -c 'import pyserini_qpeft; print(pyserini_qpeft.__file__)' 2>&1)" >> "$log"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$venv/bin/pytest" -q -p no:cacheprovider "${TESTS[@]}" >> "$log" 2>&1
  rc=$?
  test_s=$(( $(date +%s) - start ))
  result=$(grep -E '^[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$log" | tail -1 | tr -d '=' | xargs)
  [ "$rc" -eq 0 ] && [ "$kept" = yes ] || status=1
  echo "| $version | $("$venv/bin/python" --version 2>&1 | cut -d' ' -f2) | ${java:-?} | ${install_s:-?} | $kept (${installed:-none}) | ${result:-rc $rc} | $test_s |" >> "$summary"
  echo "pyserini $version: kept=$kept, tests rc=$rc ($result), install ${install_s}s, tests ${test_s}s; log: $log"
done
exit $status
