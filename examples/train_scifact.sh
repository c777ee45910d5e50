#!/usr/bin/env bash
# Train Q-PEFT-R on scifact train, rerank BM25's top 20 on test, evaluate.
# Usage: bash examples/train_scifact.sh [BEIR_DIR] [WORK_DIR] [TRAIN_QUERIES] [TEST_QUERIES] [DEPTH]
set -euo pipefail
BEIR=${1:-../shared/data/scifact}
WORK=${2:-runs/train-scifact}
TRAIN_QUERIES=${3:-64}
TEST_QUERIES=${4:-100}
DEPTH=${5:-20}  # BM25 hits reranked, on dev (the fusion weight) and on test
QP=${QP:-pyserini-qpeft}
[ -d "$WORK/index" ] || $QP index --beir "$BEIR" --index "$WORK/index"
if [ ! -f "$WORK/ckpt-r/training_summary.json" ]; then
  resume=""; [ -d "$WORK/ckpt-r.train-state" ] && resume="--resume"   # continue an interrupted run
  $QP train --beir "$BEIR" --index "$WORK/index" --split train --variant r --output "$WORK/ckpt-r" \
    --max-queries "$TRAIN_QUERIES" --epochs "${EPOCHS:-2}" --max-length "${MAX_LENGTH:-256}" --fusion-depth "$DEPTH" \
    $resume
fi
$QP search --index "$WORK/index" --beir "$BEIR" --split test --max-queries "$TEST_QUERIES" --hits 100 \
  --output "$WORK/bm25.trec"
$QP rerank --run "$WORK/bm25.trec" --index "$WORK/index" --beir "$BEIR" --split test --max-queries "$TEST_QUERIES" \
  --model "$WORK/ckpt-r" --depth "$DEPTH" --output "$WORK/r.trec" --resume
$QP evaluate --run "$WORK/bm25.trec" --qrels "$BEIR/qrels/test.tsv"
$QP evaluate --run "$WORK/r.trec" --qrels "$BEIR/qrels/test.tsv"
