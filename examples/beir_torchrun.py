"""BEIR evaluation spread over processes with torchrun: each rank reranks its share of the queries, rank 0
gathers and evaluates. Without torchrun it runs as one process and prints the same figures.

Usage: torchrun --nproc-per-node N examples/beir_torchrun.py BEIR_DIR [MODEL_OR_CHECKPOINT] [MAX_QUERIES] [TOP_K]
(needs `pip install beir`, the `beir` extra). On GPUs each rank uses cuda:LOCAL_RANK.
"""

import sys
from pathlib import Path

from beir.datasets.data_loader import GenericDataLoader
from beir.reranking import Rerank
from beir.retrieval.evaluation import EvaluateRetrieval

from pyserini_qpeft import QPEFTReranker
from pyserini_qpeft.lucene.index import build_index, open_searcher
from pyserini_qpeft.runs import distributed

data = Path(sys.argv[1])
model = sys.argv[2] if len(sys.argv) > 2 else "HuggingFaceTB/SmolLM2-135M-Instruct"
max_queries = int(sys.argv[3]) if len(sys.argv) > 3 else 10
top_k = int(sys.argv[4]) if len(sys.argv) > 4 else 20

world = distributed.setup()  # joins the torchrun world; a no-op in one process
corpus, queries, qrels = GenericDataLoader(data_folder=str(data)).load(split="test")
queries = dict(list(queries.items())[:max_queries])
index = Path("runs") / f"{data.name}-index"
if world.is_main and not index.exists():
    build_index(data, index)
distributed.barrier()  # the others wait for rank 0's index
searcher = open_searcher(index)
bm25 = {qid: {h.docid: h.score for h in searcher.search(text, k=100)} for qid, text in queries.items()}

mine = distributed.share(queries, cost=lambda qid: min(top_k, len(bm25[qid])))  # balanced by pairs to score
reranker = Rerank(QPEFTReranker.from_pretrained(model, device=distributed.rank_device(None)), batch_size=32)
part = reranker.rerank(corpus, {qid: queries[qid] for qid in mine}, {qid: bm25[qid] for qid in mine}, top_k=top_k)
reranked = distributed.gather(part)  # every rank's results on rank 0, None on the others

if world.is_main:
    for name, results in (("BM25", bm25), (f"BM25 + {model} (top {top_k})", reranked)):
        ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(qrels, results, [10, 100])
        print(f"{name}: nDCG@10 {ndcg['NDCG@10']:.5f}  R@100 {recall['Recall@100']:.5f}")
distributed.teardown()
