"""The Lucene side: the JVM, building an index, BM25 search, and Pyserini's prebuilt names for indexes, topics
and qrels."""
