#!/usr/bin/env bash
# Domain adaptation runs: nfcorpus at the paper's scale, the scifact learning curve, and a prompt trained on both.
# Every step is resumable and skipped once finished: rerun the script (or one STEP) after an interruption.
# Usage: bash benchmarks/experiments/adaptation.sh [WORK_DIR]     (STEPS="nf-prompt-v10 lc-prompt-20 ..." picks steps)
#   Training steps (checkpoints in CK, by default the committed benchmarks/results/adaptation/checkpoints, so a
#   finished one is never trained again on another machine): nf-prompt-v10, nf-r-v10-k10, nf-a-v10, lc-prompt-N, lc-r-N.
#   Table steps (journaled reranks in WORK/table-*, results under benchmarks/results/, each table's nDCG@10 then
#   recomputed from its committed runs by benchmarks/verify_table.py, pytrec_eval alone; a table's committed runs are
#   reused, so a fresh clone reranks only what no committed table holds yet):
#     nf-table  nfcorpus test (all 323 queries, BM25 top 20): BM25, zero-shot (the zeroshot-bm25 preset, and with
#               a BM25 weight picked on the nfcorpus dev queries), the scifact-trained checkpoints, the nfcorpus ones
#     sf-table  scifact test (300 queries): the committed scifact table's runs plus the nfcorpus-trained checkpoints
#     lc-table  scifact test for each learning-curve checkpoint, then the curve (benchmarks/experiments/learning_curve.py)
#     mixed-table  the prompt trained on both collections (mixed-prompt-v10) against zeroshot-bm25 on scifact test,
#               nfcorpus test and trec-dl-2019-sample, each row tested (paired t-test) against zeroshot-bm25 fused
#   mixed-prompt-v10 trains on WORK/mixed (benchmarks/experiments/merge_beir.py): the first 160 training queries of each
#   collection's runs above (those of lc-prompt-160 and half of nf-prompt-v10's) and both their 80 dev queries, each
#   with its own collection's BM25 negatives. 160, not 320, per collection: on the learning curve's dev queries
#   nDCG@10 stopped rising after 40 training queries (fused 0.7651, 0.7696, 0.7645, 0.7662 at 20, 40, 80, 320)
#   while the dev loss kept falling, and an epoch over 640 queries takes about 1.7 h at one CPU thread.
#
# Settings are those of benchmarks/experiments/scifact_scale.sh (10 virtual tokens, lr 0.03, hint lr 0.001, margin 0.5, batch 4,
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
STEPS=${STEPS:-"nf-prompt-v10 lc-prompt-20 lc-prompt-40 lc-prompt-80 lc-prompt-160 nf-table lc-table
               mixed-prompt-v10 mixed-table nf-r-v10-k10 sf-table"}
TRECDL=${TRECDL:-../shared/data/trec-dl-2019-sample}
# Both collections' 80 dev queries: train keeps the first 50 dev queries by default, and the merged queries list
# scifact's first, so without this the mixed dev set would be scifact's alone.
MIXED_DEV=160
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
    mixed-prompt-v10) echo "--beir $WORK/mixed --first-stage-run $WORK/mixed/first-stage.trec --split train
                             --dev-split dev --max-dev-queries $MIXED_DEV --variant prompt --num-virtual-tokens 10" ;;
    lc-r-*)        echo "${SF_DATA[*]} --variant r --num-virtual-tokens 10 --num-hints 10 --max-train-queries ${1##*-}" ;;
    *) echo "unknown step $1" >&2; exit 2 ;;
  esac
}

CK=${CK:-benchmarks/results/adaptation/checkpoints}
SF_TABLE=benchmarks/results/scifact_table

systems() {  # NAME=CHECKPOINT for each finished checkpoint among NAME=STEP pairs
  for pair in "$@"; do
    [ -f "$CK/${pair#*=}/training_summary.json" ] && echo "--system ${pair%%=*}=$CK/${pair#*=}"
  done
  return 0
}

reuse_run() {  # reuse_run FROM TO: a finished run (and its timing) already made elsewhere, copied once
  if [ -f "$1" ] && [ ! -f "$2" ]; then
    case "$1" in *.gz) gunzip -c "$1" > "$2" ;; *) cp "$1" "$2" ;; esac
    [ -f "${1%%.trec*}.timing.json" ] && cp "${1%%.trec*}.timing.json" "${2%.trec}.timing.json"
  fi
  return 0
}

reuse_committed() {  # reuse_committed OUT WORK: the runs of a table committed before (OUT/runs; the fused ones are
  local run          # recomputed), so a fresh clone redraws a table instead of reranking again
  for run in "$1"/runs/*.trec.gz; do
    case "$run" in *+*|"$1/runs/*.trec.gz") ;; *) reuse_run "$run" "$2/$(basename "${run%.gz}")" ;; esac
  done
  return 0
}

seed_runs() {  # seed_runs WORK COLLECTION: BM25 and zero-shot (LM alone, BM25 top 20) runs of earlier tables
  local from
  case "$2" in
    scifact) from=("$SF_TABLE/runs/bm25.trec.gz" "$SF_TABLE/runs/zeroshot.trec.gz") ;;
    trecdl) from=(benchmarks/results/trecdl_ood/runs/bm25.trec.gz benchmarks/results/trecdl_ood/runs/zeroshot.trec.gz) ;;
    nfcorpus) from=("$WORK/table-nfcorpus/bm25.trec" "$WORK/table-nfcorpus/zeroshot.trec") ;;
  esac
  reuse_run "${from[0]}" "$1/bm25.trec"
  reuse_run "${from[1]}" "$1/zeroshot.trec"
}

verify() {  # verify TABLE BEIR: every nDCG@10 of the table recomputed from its committed runs by pytrec_eval alone
  $BIN/python benchmarks/verify_table.py --table "$1" --qrels "$2/qrels/test.tsv"
}

table_step() {
  case "$1" in
    nf-table)
      [ -f "$CK/zeroshot-nfdev/fusion_summary.json" ] || $BIN/python benchmarks/experiments/zeroshot_fusion.py "${NF_DATA[@]}" \
        --output "$CK/zeroshot-nfdev" --dtype "$DTYPE" --quiet
      mkdir -p "$WORK/table-nfcorpus"
      reuse_committed benchmarks/results/nfcorpus_table "$WORK/table-nfcorpus"
      [ -f "$WORK/table-nfcorpus/zeroshot.trec" ] || $BIN/python benchmarks/bench_table.py --beir "$NFCORPUS" \
        --index "$WORK/nfcorpus-index" --dtype "$DTYPE" --system zeroshot=zeroshot-bm25 --work "$WORK/table-nfcorpus" \
        --out "$WORK/table-nfcorpus/zeroshot-only"
      reuse_run "$WORK/table-nfcorpus/zeroshot.trec" "$WORK/table-nfcorpus/zeroshot-nfdev.trec"  # the same LM alone
      # shellcheck disable=SC2046
      $BIN/python benchmarks/bench_table.py --beir "$NFCORPUS" --index "$WORK/nfcorpus-index" --dtype "$DTYPE" \
        --system zeroshot=zeroshot-bm25 --system "zeroshot-nfdev=$CK/zeroshot-nfdev" \
        $(systems prompt=nf-prompt-v10 r=nf-r-v10-k10 a=nf-a-v10) \
        --system "sf-prompt=$SF_TABLE/checkpoints/prompt-v10" --system sf-r=scifact-r \
        --work "$WORK/table-nfcorpus" --out benchmarks/results/nfcorpus_table
      verify benchmarks/results/nfcorpus_table "$NFCORPUS"
      ;;
    sf-table)
      mkdir -p "$WORK/table-scifact"
      reuse_committed benchmarks/results/scifact_cross_table "$WORK/table-scifact"
      for name in bm25 zeroshot prompt r a; do  # the committed table's runs: reused, not recomputed
        reuse_run "$SF_TABLE/runs/$name.trec.gz" "$WORK/table-scifact/$name.trec"
      done
      # shellcheck disable=SC2046
      $BIN/python benchmarks/bench_table.py --beir "$SCIFACT" --index "$WORK/scifact-index" --dtype "$DTYPE" \
        --system "zeroshot=$SF_TABLE/checkpoints/zeroshot-fused" --system "prompt=$SF_TABLE/checkpoints/prompt-v10" \
        --system "r=$SF_TABLE/checkpoints/r-v10-k10" --system "a=$SF_TABLE/checkpoints/a-v10" \
        $(systems nf-prompt=nf-prompt-v10 nf-r=nf-r-v10-k10 nf-a=nf-a-v10) \
        --work "$WORK/table-scifact" --out benchmarks/results/scifact_cross_table
      verify benchmarks/results/scifact_cross_table "$SCIFACT"
      ;;
    lc-table)
      mkdir -p "$WORK/table-lc"
      reuse_committed benchmarks/results/learning_curve/table "$WORK/table-lc"
      for name in bm25 prompt; do
        reuse_run "$SF_TABLE/runs/$name.trec.gz" "$WORK/table-lc/$name.trec"
      done
      # shellcheck disable=SC2046
      $BIN/python benchmarks/bench_table.py --beir "$SCIFACT" --index "$WORK/scifact-index" --dtype "$DTYPE" \
        $(systems prompt-20=lc-prompt-20 prompt-40=lc-prompt-40 prompt-80=lc-prompt-80 prompt-160=lc-prompt-160) \
        --system "prompt=$SF_TABLE/checkpoints/prompt-v10" \
        $(systems r-20=lc-r-20 r-40=lc-r-40 r-80=lc-r-80 r-160=lc-r-160) \
        --work "$WORK/table-lc" --out benchmarks/results/learning_curve/table
      verify benchmarks/results/learning_curve/table "$SCIFACT"
      $BIN/python benchmarks/experiments/learning_curve.py --table benchmarks/results/learning_curve/table/results.json \
        --checkpoints "$CK" --out benchmarks/results/learning_curve
      ;;
    mixed-table)
      [ -f "$CK/mixed-prompt-v10/training_summary.json" ] || { echo "mixed-prompt-v10 is not trained yet"; return 0; }
      [ -d "$WORK/trecdl-index" ] || $QPEFT index --beir "$TRECDL" --index "$WORK/trecdl-index"
      # quickest first: trec-dl's 43 queries over short passages, then nfcorpus's 323 and scifact's 300 over abstracts
      for part in "trecdl $TRECDL $WORK/trecdl-index" "nfcorpus $NFCORPUS $WORK/nfcorpus-index" \
                  "scifact $SCIFACT $WORK/scifact-index"; do
        set -- $part
        mkdir -p "$WORK/table-mixed-$1"
        reuse_committed "benchmarks/results/mixed_default/$1" "$WORK/table-mixed-$1"
        seed_runs "$WORK/table-mixed-$1" "$1"  # BM25 and zero-shot runs made before: reused
        $BIN/python benchmarks/bench_table.py --beir "$2" --index "$3" --dtype "$DTYPE" --baseline zeroshot+bm25 \
          --system zeroshot=zeroshot-bm25 --system "mixed=$CK/mixed-prompt-v10" \
          --work "$WORK/table-mixed-$1" --out "benchmarks/results/mixed_default/$1"
        verify "benchmarks/results/mixed_default/$1" "$2"
      done
      ;;
  esac
}

export TQDM_MININTERVAL=${TQDM_MININTERVAL:-60}  # progress lines in the log once a minute
mkdir -p "$WORK/logs" "$CK"
[ -d "$WORK/nfcorpus-index" ] || $QPEFT index --beir "$NFCORPUS" --index "$WORK/nfcorpus-index"
[ -d "$WORK/scifact-index" ] || $QPEFT index --beir "$SCIFACT" --index "$WORK/scifact-index"
for name in $STEPS; do
  echo "$(date -u '+%F %T') start $name" >> "$WORK/logs/steps.log"
  case "$name" in
    *-table) table_step "$name" 2>&1 | tee -a "$WORK/logs/$name.log" ;;
    *)
      ckpt="$CK/$name"
      [ -f "$ckpt/training_summary.json" ] && continue
      if [ "$name" = mixed-prompt-v10 ] && [ ! -f "$WORK/mixed/parts.json" ]; then
        $BIN/python benchmarks/experiments/merge_beir.py --out "$WORK/mixed" \
          --part scifact "$SCIFACT" "$WORK/scifact-index" "--max-queries 400 --dev-fraction 0.2 --max-dev-queries 80 --max-train-queries 160" \
          --part nfcorpus "$NFCORPUS" "$WORK/nfcorpus-index" "--max-queries 320 --dev-split dev --max-dev-queries 80 --max-train-queries 160"
      fi
      resume=""; [ -d "$ckpt.train-state" ] && resume="--resume"
      # shellcheck disable=SC2046
      $QPEFT train $(step_flags "$name") "${COMMON[@]}" --output "$ckpt" $resume 2>&1 | tee -a "$WORK/logs/$name.log"
      ;;
  esac
  echo "$(date -u '+%F %T') done $name" >> "$WORK/logs/steps.log"
done
