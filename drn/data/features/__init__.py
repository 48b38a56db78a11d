"""Pre-extracted video features: where they are stored, and resampling them to T equal clips.

A video's features are one `[windows, D]` array (windows = frames or snippets in time order,
spread evenly over the video). They are read from either

- a folder of `VID.npy` / `VID.pt` files (`NpyFolderFeatures`; `.npy` wins when both exist),
- a folder of `VID.npz` files, key `features` (`drn.data.features.npz.NpzFolderFeatures`; several
  such feature types concatenate with `open_feature_types`), or
- one HDF5 file keyed by video id (`HDF5Features`), the dataset either at `f[vid]` or, for files
  laid out like ActivityNet's C3D release, at `f[vid][dataset_key]`.

Loading is lazy, through a small per-process LRU cache. Sources are safe to hand to DataLoader
workers: nothing open is pickled, and an HDF5 handle is (re)opened by the process that reads.
"""

from drn.data.features.folders import HDF5_SUFFIXES, HDF5Features, NpyFolderFeatures
from drn.data.features.open import open_features
from drn.data.features.resample import POOLINGS, clip_window_bounds, resample_to_clips
from drn.data.features.source import (
                                      FeatureDimError,
                                      FeatureFileError,
                                      FeatureSource,
                                      MissingFeaturesError,
                                      VideoCheck,
                                      as_feature_tensor,
)

__all__ = ["FeatureDimError", "FeatureFileError", "FeatureSource", "HDF5Features", "HDF5_SUFFIXES",
           "MissingFeaturesError", "NpyFolderFeatures", "POOLINGS", "VideoCheck", "as_feature_tensor",
           "clip_window_bounds", "open_features", "resample_to_clips"]
