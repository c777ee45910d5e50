"""Training the small parts (soft prompt and hint module): examples with BM25 negatives, the loop, and the fusion
weight chosen on dev queries."""
