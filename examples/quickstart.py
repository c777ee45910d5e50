"""Index scifact, run BM25, rerank the top 20 with the default LM, evaluate.

Usage: python examples/quickstart.py [BEIR_DIR] [QUERIES] [DEPTH]
"""

import sys
from pathlib import Path

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.lucene.index import build_index, open_searcher
from pyserini_qpeft.runs.beir import load_qrels, load_queries
from pyserini_qpeft.runs.evaluation import evaluate

beir = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/scifact")
max_queries = int(sys.argv[2]) if len(sys.argv) > 2 else 10
depth = int(sys.argv[3]) if len(sys.argv) > 3 else 20
index = Path("runs/quickstart-index")
if not index.exists():
    build_index(beir, index)
searcher = open_searcher(index)
reranker = QPEFTReranker.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")
queries = dict(list(load_queries(beir, "test").items())[:max_queries])
bm25, reranked = {}, {}
for qid, text in queries.items():
    hits = searcher.search(text, k=100)
    bm25[qid] = [(h.docid, h.score) for h in hits]
    reranked[qid] = [(c.docid, c.score) for c in reranker.rerank(text, hits, searcher=searcher, k=depth)]
qrels = load_qrels(beir / "qrels" / "test.tsv")
print("BM25    ", evaluate(bm25, qrels))
print("reranked", evaluate(reranked, qrels))
