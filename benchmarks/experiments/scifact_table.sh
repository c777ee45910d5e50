#!/usr/bin/env bash
# The full table on scifact test (300 queries, BM25 top 20) and the out-of-domain check on trec-dl-2019-sample
# (43 queries), for zero-shot (with its dev-picked BM25 weight) and the checkpoints of benchmarks/experiments/scifact_scale.sh.
# Every rerank is journaled: rerun the script after an interruption and it goes on where it stopped.
# Usage: bash benchmarks/experiments/scifact_table.sh [SCALE_WORK_DIR]   (SYSTEMS="prompt-v10 r-v10-k10 a-v10" picks checkpoints)
set -euo pipefail
WORK=${1:-runs/scifact-scale}
BIN=${BIN:-.venv/bin}
SCIFACT=${SCIFACT:-../shared/data/scifact}
TRECDL=${TRECDL:-../shared/data/trec-dl-2019-sample}
SYSTEMS=${SYSTEMS:-"prompt-v10 r-v10-k10 a-v10"}
CKPT=$WORK/checkpoints

[ -f "$CKPT/zeroshot-fused/qpeft_config.json" ] || "$BIN/python" benchmarks/experiments/zeroshot_fusion.py --beir "$SCIFACT" \
  --index "$WORK/index" --output "$CKPT/zeroshot-fused"
args=(--system "zeroshot=$CKPT/zeroshot-fused")
for name in $SYSTEMS; do
  [ -f "$CKPT/$name/training_summary.json" ] && args+=(--system "${name%%-*}=$CKPT/$name")
done
[ -d "$WORK/trecdl-index" ] || "$BIN/pyserini-qpeft" index --beir "$TRECDL" --index "$WORK/trecdl-index"
"$BIN/python" benchmarks/bench_table.py --beir "$TRECDL" --index "$WORK/trecdl-index" "${args[@]}" \
  --work "$WORK/table-trecdl" --out benchmarks/results/trecdl_ood
"$BIN/python" benchmarks/bench_table.py --beir "$SCIFACT" --index "$WORK/index" "${args[@]}" \
  --work "$WORK/table-scifact" --out benchmarks/results/scifact_table
