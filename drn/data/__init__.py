"""Data layer: annotation readers, video features, vocabulary, word vectors, datasets, and the
synthetic data generator."""

from drn.data.annotations.activitynet import read_activitynet_captions
from drn.data.annotations.charades import read_charades_sta, read_durations
from drn.data.annotations.jsonl import read_jsonl_annotations
from drn.data.annotations.query import AnnotationFormatError, Query, QuirkReport
from drn.data.annotations.read import FORMAT_ALIASES, read_annotations
from drn.data.annotations.tacos import read_tacos
from drn.data.dataset import GroundingDataset, build_dataset, collate
from drn.data.features import (
    FeatureDimError,
    FeatureSource,
    HDF5Features,
    NpyFolderFeatures,
    clip_window_bounds,
    open_features,
    resample_to_clips,
)
from drn.data.synthetic.dataset import make_synthetic_dataset
from drn.data.text.glove import load_aligned_npy, load_glove_text, load_word_vectors
from drn.data.text.vocab import PAD_ID, Vocabulary, tokenize

__all__ = [
    "AnnotationFormatError",
    "FORMAT_ALIASES",
    "FeatureDimError",
    "FeatureSource",
    "GroundingDataset",
    "HDF5Features",
    "NpyFolderFeatures",
    "PAD_ID",
    "Query",
    "QuirkReport",
    "Vocabulary",
    "build_dataset",
    "clip_window_bounds",
    "collate",
    "load_aligned_npy",
    "load_glove_text",
    "load_word_vectors",
    "make_synthetic_dataset",
    "open_features",
    "read_activitynet_captions",
    "read_annotations",
    "read_charades_sta",
    "read_durations",
    "read_jsonl_annotations",
    "read_tacos",
    "resample_to_clips",
    "tokenize",
]
