#!/usr/bin/env bash
# Train prompt, r and a at the paper's scale on scifact train: 320 training queries, 80 other train queries
# as dev (early stopping with patience), bf16 on CPU. Every run resumes where it stopped: rerun the script.
# Usage: bash benchmarks/experiments/scifact_scale.sh [BEIR_DIR] [WORK_DIR]
#   RUNS="prompt-v10 r-v10-k10 a-v10" picks runs by name (see run_settings below); LOG goes to WORK/logs.
#   Without Java (a GPU node): FIRST_STAGE_RUN=bm25-train.trec (`search --split train --max-queries 400 --hits 30`)
#   replaces the index, DEVICE=cuda, QPEFT="python3 -m pyserini_qpeft" (benchmarks/experiments/gpu_table.sh does this).
#   SCALE_EXTRA="--epochs 1 ..." appends train flags (they override the ones above; for dry runs).
set -euo pipefail
BEIR=${1:-../shared/data/scifact}
WORK=${2:-runs/scifact-scale}
BIN=${BIN:-.venv/bin}
QPEFT=${QPEFT:-$BIN/pyserini-qpeft}
OUT=${OUT:-$WORK/checkpoints}
RUNS=${RUNS:-"prompt-v10 r-v10-k10 a-v10"}
COMMON=(--split train --max-queries 400 --dev-fraction 0.2 --max-dev-queries 80 --epochs 12 --patience 2
        --max-length 256 --batch-size 4 --negatives 2 --in-batch 1 --dtype "${DTYPE:-auto}" --seed 42 --save-every 10)

run_settings() {  # name -> train flags
  case "$1" in
    prompt-v10)   echo "--variant prompt --num-virtual-tokens 10" ;;
    prompt-v50)   echo "--variant prompt --num-virtual-tokens 50" ;;
    r-v10-k5)     echo "--variant r --num-virtual-tokens 10 --k 5" ;;
    r-v10-k10)    echo "--variant r --num-virtual-tokens 10 --k 10" ;;
    r-v10-k20)    echo "--variant r --num-virtual-tokens 10 --k 20" ;;
    a-v10)        echo "--variant a --num-virtual-tokens 10" ;;
    a-v10-qdlr3e-4) echo "--variant a --num-virtual-tokens 10 --hint-lr 3e-4" ;;
    *) echo "unknown run $1" >&2; exit 2 ;;
  esac
}

export TQDM_MININTERVAL=${TQDM_MININTERVAL:-60}  # progress lines in the log once a minute
mkdir -p "$WORK/logs"
if [ -n "${FIRST_STAGE_RUN:-}" ]; then
  first_stage=(--first-stage-run "$FIRST_STAGE_RUN" --device "${DEVICE:-cuda}")
else
  [ -d "$WORK/index" ] || $QPEFT index --beir "$BEIR" --index "$WORK/index"
  first_stage=(--index "$WORK/index")
fi
for name in $RUNS; do
  ckpt="$OUT/$name"
  [ -f "$ckpt/training_summary.json" ] && continue
  resume=""; [ -d "$ckpt.train-state" ] && resume="--resume"
  # shellcheck disable=SC2046
  $QPEFT train --beir "$BEIR" "${first_stage[@]}" --output "$ckpt" "${COMMON[@]}" \
    $(run_settings "$name") ${SCALE_EXTRA:-} $resume 2>&1 | tee -a "$WORK/logs/$name.log"
done
