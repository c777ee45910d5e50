#!/usr/bin/env bash
# Train prompt, r and a on scifact train and write the quality table of the test split.
# Usage: bash benchmarks/experiments/scifact_qpeft.sh [BEIR_DIR] [WORK_DIR]
# Sizes are chosen for a 2-core CPU; override with the variables below.
set -euo pipefail
BEIR=${1:-../shared/data/scifact}
WORK=${2:-runs/scifact}
BIN=${BIN:-.venv/bin}
TRAIN_QUERIES=${TRAIN_QUERIES:-64}
EPOCHS=${EPOCHS:-2}
MAX_LENGTH=${MAX_LENGTH:-256}
TEST_QUERIES=${TEST_QUERIES:-100}
DTYPE=${DTYPE:-auto}
OUT=${OUT:-benchmarks/results/scifact_quality}

[ -d "$WORK/index" ] || "$BIN/pyserini-qpeft" index --beir "$BEIR" --index "$WORK/index"
for variant in prompt r a; do
  ckpt="$OUT/checkpoints/$variant"
  if [ ! -f "$ckpt/training_summary.json" ]; then
    resume=""; [ -d "$ckpt.train-state" ] && resume="--resume"
    "$BIN/pyserini-qpeft" train --beir "$BEIR" --index "$WORK/index" --split train --variant "$variant" \
      --output "$ckpt" --max-queries "$TRAIN_QUERIES" --epochs "$EPOCHS" --max-length "$MAX_LENGTH" \
      --batch-size 4 --negatives 2 --in-batch 1 --dtype "$DTYPE" $resume
    rm -rf "$ckpt.train-state"
  fi
done
"$BIN/python" benchmarks/bench_quality.py --beir "$BEIR" --index "$WORK/index" --max-queries "$TEST_QUERIES" \
  --depth 20 --max-length "$MAX_LENGTH" --dtype "$DTYPE" --out "$OUT" \
  --checkpoint prompt="$OUT/checkpoints/prompt" --checkpoint r="$OUT/checkpoints/r" --checkpoint a="$OUT/checkpoints/a"
