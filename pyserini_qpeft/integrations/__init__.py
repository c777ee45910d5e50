"""Other toolkits' shapes: Pyserini hits, pygaggle Texts and rank_llm Candidates in and out of
``QPEFTReranker.rerank``."""
