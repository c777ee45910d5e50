#!/usr/bin/env bash
# Domain adaptation runs: nfcorpus at the paper's scale, the scifact learning curve, and a prompt trained on both.
# Every step is resumable and skipped once finished: rerun the script (or one STEP) after an interruption.
# Usage: bash benchmarks/adaptation.sh [WORK_DIR]     (STEPS="nf-prompt-v10 lc-prompt-20 ..." picks steps)
#
# Settings are those of benchmarks/scifact_scale.sh (10 virtual tokens, lr 0.03, qd lr 0.001, margin 0.5, batch 4,
# 2 BM25 negatives + 1 in-batch, patience 2, at most 12 epochs, max_length 256, seed 42). Dev queries, the only
# queries anything is chosen on (early stopping, the BM25 fusion weight):
#   nfcorpus  the first 80 queries of its own dev split (qrels/dev.tsv), never its test queries;
#   scifact   80 train queries held out with seed 42 from the first 400 (as scifact_scale.sh); the learning curve
#             trains on the first N of the other 320 (--max-train-queries), so every point shares those dev queries.
set -euo pipefail
WORK=${1:-runs/adaptation}
BIN=${BIN:-.venv/bin}
QPEFT=${QPEFT:-$BIN/pyserini-qpeft}
SCIFACT=${SCIFACT:-../shared/data/scifact}
NFCORPUS=${NFCORPUS:-../shared/data/nfcorpus}
DTYPE=${DTYPE:-auto}
STEPS=${STEPS:-"nf-prompt-v10 lc-prompt-20 lc-prompt-40 lc-prompt-80 lc-prompt-160 nf-r-v10-k10"}
COMMON=(--epochs 12 --patience 2 --max-length 256 --batch-size 4 --negatives 2 --in-batch 1 --seed 42
        --save-every 10 --dtype "$DTYPE")
NF_DATA=(--beir "$NFCORPUS" --index "$WORK/nfcorpus-index" --split train --max-queries 320 --dev-split dev
         --max-dev-queries 80)
SF_DATA=(--beir "$SCIFACT" --index "$WORK/scifact-index" --split train --max-queries 400 --dev-fraction 0.2
         --max-dev-queries 80)

step_flags() {  # step name -> train flags
  case "$1" in
    nf-prompt-v10) echo "${NF_DATA[*]} --variant prompt --num-virtual-tokens 10" ;;
    nf-r-v10-k10)  echo "${NF_DATA[*]} --variant r --num-virtual-tokens 10 --num-hints 10" ;;
    nf-a-v10)      echo "${NF_DATA[*]} --variant a --num-virtual-tokens 10" ;;
    lc-prompt-*)   echo "${SF_DATA[*]} --variant prompt --num-virtual-tokens 10 --max-train-queries ${1##*-}" ;;
    lc-r-*)        echo "${SF_DATA[*]} --variant r --num-virtual-tokens 10 --num-hints 10 --max-train-queries ${1##*-}" ;;
    *) echo "unknown step $1" >&2; exit 2 ;;
  esac
}

export TQDM_MININTERVAL=${TQDM_MININTERVAL:-60}  # progress lines in the log once a minute
mkdir -p "$WORK/logs" "$WORK/checkpoints"
[ -d "$WORK/nfcorpus-index" ] || $QPEFT index --beir "$NFCORPUS" --index "$WORK/nfcorpus-index"
[ -d "$WORK/scifact-index" ] || $QPEFT index --beir "$SCIFACT" --index "$WORK/scifact-index"
for name in $STEPS; do
  ckpt="$WORK/checkpoints/$name"
  [ -f "$ckpt/training_summary.json" ] && continue
  resume=""; [ -d "$ckpt.train-state" ] && resume="--resume"
  echo "$(date -u '+%F %T') start $name $resume" >> "$WORK/logs/steps.log"
  # shellcheck disable=SC2046
  $QPEFT train $(step_flags "$name") "${COMMON[@]}" --output "$ckpt" $resume 2>&1 | tee -a "$WORK/logs/$name.log"
  echo "$(date -u '+%F %T') done $name" >> "$WORK/logs/steps.log"
done
