#!/usr/bin/env bash
# The GPU check: one script, under 8 minutes on one GPU. Two halves:
#   bash benchmarks/gpu_check.sh prepare   # here, with network to PyPI: puts what the GPU machine lacks into .gpu/
#                                          # (wheels for Python 3.12, the scifact corpus/queries, the default tokenizer)
#   bash benchmarks/gpu_check.sh [OUT]     # there, with .gpu/ beside the code: installs the wheels to /tmp/site, runs
#     1. the gpu-marked tests (CUDA scores vs CPU, bf16, hint selection on CUDA tensors, training steps on CUDA),
#     2. bench_speed.py --device cuda --dtype bfloat16 at a realistic size (50 queries x BM25 top 100 = 5,000 pairs)
#        for zeroshot, prompt and r on random-weight SmolLM2-135M and 1B Llama shapes: ours vs the bare forward
#        (target ours / bare >= 0.90), MFU, a torch.profiler table of ours per variant (profile_*.txt), and hint
#        selection at 20/100/1000 candidates (torch backend: no faiss there),
#     3. the CLI end to end: `rerank --depth 100` of all 300 scifact test queries (30,000 pairs) with a Q-PEFT-R
#        checkpoint on the random SmolLM2 (texts from the BEIR corpus: no Java), timed,
#     4. a 1-GPU torchrun rerank (Python API: distributed.share/gather) against the same rerank in one process.
# Results: OUT/gpu_check.log (every step's output), OUT/summary.txt, OUT/speed_gpu/, OUT/cli_top100.trec,
# OUT/torchrun.trec.
# No Java or Lucene index is needed there. A dry run on a CPU, smaller:
#   DEVICE=cpu PY=.venv/bin/python SPEED_MODELS=random-smollm2 SPEED_QUERIES=1 SPEED_DOCS=4 SELECTION_QUERIES=1 \
#     SPEED_REPEATS=1 CLI_QUERIES=2 CLI_DEPTH=4 RERANK_QUERIES=2 bash benchmarks/gpu_check.sh runs/gpu-check-dry
set -uo pipefail
cd "$(dirname "$0")/.."
GPU=.gpu
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}

if [ "${1:-}" = prepare ]; then
  set -e
  BIN=${BIN:-.venv/bin}
  mkdir -p "$GPU/whl" "$GPU/scifact/qrels"
  versions=$("$BIN/python" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in ("pydantic", "pydantic_core", "annotated_types", "typing_inspection")))
EOF
)
  # shellcheck disable=SC2086
  "$BIN/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$GPU/whl" $versions
  cp "${BEIR:-../shared/data/scifact}/corpus.jsonl" "${BEIR:-../shared/data/scifact}/queries.jsonl" "$GPU/scifact/"
  cp "${BEIR:-../shared/data/scifact}/qrels/test.tsv" "$GPU/scifact/qrels/"
  gunzip -c benchmarks/results/scifact_table/runs/bm25.trec.gz > "$GPU/bm25-top100.trec"  # BM25 top 100, 300 queries
  "$BIN/python" -c "
from transformers import AutoTokenizer
from pyserini_qpeft.model.loading import DEFAULT_MODEL, resolve_model
AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL)).save_pretrained('$GPU/tokenizer')"
  du -sh "$GPU"
  exit 0
fi

OUT=${1:-${OUT:-runs/gpu-check}}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
: > "$OUT/summary.txt"
if ls "$GPU"/whl/*.whl > /dev/null 2>&1 && ! $PY -c "import pydantic" 2> /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$GPU"/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
BIN_DIR=$(dirname "$(command -v $PY)")

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, and record the exit status and time
  local name=$1 limit=$2 started rc
  shift 2
  started=$(date +%s)
  echo "=== $name: $*" >> "$LOG"
  timeout "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  echo "$name: exit $rc, $(( $(date +%s) - started )) s" | tee -a "$OUT/summary.txt"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } | tee -a "$OUT/summary.txt"

if [ "$DEVICE" = cuda ]; then
  step tests 150 $PY -m pytest -q -p no:cacheprovider -m gpu tests/test_variants.py tests/test_training.py
fi
MODELS=()
for name in ${SPEED_MODELS:-random-smollm2 random-llama-1b}; do MODELS+=(--model "$name"); done
step speed 300 $PY benchmarks/bench_speed.py --beir "$GPU/scifact" --tokenizer "$GPU/tokenizer" --device "$DEVICE" \
  --dtype bfloat16 "${MODELS[@]}" --variants zeroshot,prompt,r --implementations ours,bare --profile \
  --queries "${SPEED_QUERIES:-50}" --docs "${SPEED_DOCS:-100}" --batch-size 64 --token-budget 32768 \
  --repeats "${SPEED_REPEATS:-2}" --selection-candidates 20,100,1000 --selection-queries "${SELECTION_QUERIES:-5}" \
  --out "$OUT/speed_gpu"

# 3. A random SmolLM2-shaped model saved as a folder, reranked in one process and under torchrun (1 GPU).
MODEL=/tmp/gpu-check-model
step save-model 60 $PY -c "
import sys, torch
from bench_speed import random_tokenizer
from speed_impls import SMOLLM2_135M, random_llama
tokenizer = random_tokenizer('$GPU/tokenizer')
random_llama(tokenizer, dtype=torch.bfloat16, **SMOLLM2_135M).save_pretrained('$MODEL')
tokenizer.save_pretrained('$MODEL')
from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.model.config import QPEFTConfig
from pyserini_qpeft.model.loading import load_causal_lm
from pyserini_qpeft.model.qpeft_model import QPEFTModel
lm, tok = load_causal_lm('$MODEL', device='cpu', dtype='bfloat16')
QPEFTReranker(QPEFTModel(lm, tok, QPEFTConfig(base_model='$MODEL', variant='r', max_length=512))).save_pretrained('$MODEL-r')"
CLI=("$BIN_DIR/$(basename "$PY")" -m pyserini_qpeft -q rerank --run "$GPU/bm25-top100.trec" --beir "$GPU/scifact"
     --split test --max-queries "${CLI_QUERIES:-300}" --depth "${CLI_DEPTH:-100}" --device "$DEVICE" --dtype bfloat16
     --batch-size 64 --token-budget 32768 --no-fusion)
started=$(date +%s)
step cli-top100 150 "${CLI[@]}" --model "$MODEL-r" --output "$OUT/cli_top100.trec"
echo "CLI rerank, Q-PEFT-R, ${CLI_QUERIES:-300} queries x top ${CLI_DEPTH:-100}: $(( $(date +%s) - started )) s end to end" \
  | tee -a "$OUT/summary.txt"
RERANK=(benchmarks/gpu_torchrun_rerank.py "$MODEL" "$GPU/scifact" benchmarks/results/scifact_quality/runs/bm25.trec)
N=${RERANK_QUERIES:-20}
step rerank-one 90 $PY "${RERANK[@]}" /tmp/gpu-check-one.trec "$N" 20 "$DEVICE"
step rerank-torchrun 120 "$BIN_DIR/torchrun" --standalone --nproc-per-node 1 "${RERANK[@]}" "$OUT/torchrun.trec" "$N" 20 "$DEVICE"
if cmp -s /tmp/gpu-check-one.trec "$OUT/torchrun.trec"; then same=yes; else same=NO; fi
echo "torchrun run byte-identical to one process: $same" | tee -a "$OUT/summary.txt"
grep -h "pairs/s" "$LOG" | tee -a "$OUT/summary.txt"
