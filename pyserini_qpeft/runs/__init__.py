"""Whole runs: TREC run files, BEIR data, the journal that makes them resumable, the run-level rerank, fusion with
the first stage, evaluation, and sharding under torchrun."""
