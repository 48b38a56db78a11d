"""Synthetic data: clip features in the Charades-STA layout (`dataset`) and small video files with
their annotations (`video`), for the demo, the tests and the benchmarks."""
