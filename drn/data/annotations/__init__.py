"""Annotation readers: Charades-STA, ActivityNet Captions, TACoS, QVHighlights-style JSONL, and the
queries files of `drn predict --queries`; every reader returns `Query` rows and a `QuirkReport`."""
