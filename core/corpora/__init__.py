"""Corpora: the bundled data (``data``), a corpus as an immutable value read from a file, the Hub or an
upload (``corpus``), text clean-up (``text``), its embeddings (``embeddings``), index and search
(``index``, ``search``) and its map and clusters (``clusters``)."""
