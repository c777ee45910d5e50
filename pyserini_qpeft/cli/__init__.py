"""The ``pyserini-qpeft`` command line."""
