"""Reading the extract.json that drn extract leaves beside its features."""

from __future__ import annotations

import json

import pytest

from drn.data.features.extraction_record import ExtractionRecordError, extraction_settings_of, recorded_durations

RECORD = {"backbone": "tiny", "weights": "none", "clip_seconds": 1.0, "frames_per_clip": 8, "frame_size": 64,
          "dim": 128, "dtype": "float32", "videos": {"A": {"duration": 9.5, "num_clips": 10, "source": "a.mp4"}},
          "failed": {"B": "unreadable"}}


def test_settings_and_durations_of_a_feature_folder_and_its_hdf5_file(tmp_path):
    (tmp_path / "extract.json").write_text(json.dumps(RECORD))
    settings = {k: v for k, v in RECORD.items() if k not in ("videos", "failed")}
    assert extraction_settings_of(tmp_path) == settings
    assert extraction_settings_of(tmp_path / "all.h5") == settings  # an HDF5 file packed into the same folder
    assert recorded_durations(tmp_path) == {"A": 9.5}


def test_features_without_a_record_have_no_settings(tmp_path):
    assert extraction_settings_of(tmp_path) is None
    assert extraction_settings_of(None) is None
    assert recorded_durations(tmp_path) == {}


def test_unreadable_record_is_one_line_naming_it(tmp_path):
    (tmp_path / "extract.json").write_text("{not json")
    with pytest.raises(ExtractionRecordError, match=r"extract.json: not a readable extract.json"):
        extraction_settings_of(tmp_path)
    (tmp_path / "extract.json").write_text(json.dumps({"videos": {}}))
    with pytest.raises(ExtractionRecordError, match=r"with 'backbone' and 'dim'"):
        extraction_settings_of(tmp_path)
