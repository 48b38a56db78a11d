"""Grounding with a trained checkpoint: the `Grounder` (one video's features and a few sentences),
batches of queries over many videos (`predict_queries`), and video files (`ground_video`)."""

from drn.inference.grounder import Grounder, QueryError, load_trained_model, read_video_features

__all__ = ["Grounder", "QueryError", "load_trained_model", "read_video_features"]
