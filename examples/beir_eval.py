"""BEIR's own loader, evaluator and Rerank, with QPEFTReranker as the cross-encoder and Pyserini BM25 first.

Usage: python examples/beir_eval.py BEIR_DIR [MODEL_OR_CHECKPOINT] [MAX_QUERIES] [TOP_K]
(needs `pip install beir`, the `beir` extra).
"""

import sys
from pathlib import Path

from beir.datasets.data_loader import GenericDataLoader
from beir.reranking import Rerank
from beir.retrieval.evaluation import EvaluateRetrieval

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.lucene.index import build_index, open_searcher

data = Path(sys.argv[1])
model = sys.argv[2] if len(sys.argv) > 2 else "HuggingFaceTB/SmolLM2-135M-Instruct"
max_queries = int(sys.argv[3]) if len(sys.argv) > 3 else 10
top_k = int(sys.argv[4]) if len(sys.argv) > 4 else 20

corpus, queries, qrels = GenericDataLoader(data_folder=str(data)).load(split="test")
queries = dict(list(queries.items())[:max_queries])
index = Path("runs") / f"{data.name}-index"
if not index.exists():
    build_index(data, index)
searcher = open_searcher(index)
bm25 = {qid: {h.docid: h.score for h in searcher.search(text, k=100)} for qid, text in queries.items()}

reranker = Rerank(QPEFTReranker.from_pretrained(model), batch_size=32)
reranked = reranker.rerank(corpus, queries, bm25, top_k=top_k)

for name, results in (("BM25", bm25), (f"BM25 + {model} (top {top_k})", reranked)):
    ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(qrels, results, [10, 100])
    print(f"{name}: nDCG@10 {ndcg['NDCG@10']:.4f}  R@100 {recall['Recall@100']:.4f}")
