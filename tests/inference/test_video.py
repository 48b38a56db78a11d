"""Choosing the backbone for a checkpoint's videos: the record wins, every mismatch is one line."""

from __future__ import annotations

import pytest

from drn.inference.video import ExtractionMismatchError, resolve_backbone

TINY_RECORD = {"backbone": "tiny", "weights": "none", "clip_seconds": 1.0, "frames_per_clip": 8, "frame_size": 64,
               "dim": 128, "dtype": "float32"}


def test_recorded_backbone_is_used_and_named_one_when_none_is_recorded():
    assert resolve_backbone(TINY_RECORD, 128, None) == "tiny"
    assert resolve_backbone(TINY_RECORD, 128, "tiny") == "tiny"
    assert resolve_backbone(None, 128, "tiny") == "tiny"
    assert resolve_backbone({**TINY_RECORD, "backbone": "s3d", "dim": 1024}, 1024, None) == "s3d"


@pytest.mark.parametrize("record, dim, backbone, message", [
    (None, 128, None, "records no extraction settings (its training features did not come from drn extract); "
                      "name the backbone they came from with --backbone"),
    (TINY_RECORD, 128, "s3d", "was trained on features of backbone 'tiny', not 's3d'"),
    (None, 16, "tiny", "backbone 'tiny' gives 128-d features but the checkpoint takes D = 16"),
    (None, 128, "resnet", "unknown backbone 'resnet'; choose one of"),
])
def test_mismatches_are_one_line_errors(record, dim, backbone, message):
    with pytest.raises(ExtractionMismatchError) as caught:
        resolve_backbone(record, dim, backbone)
    assert message in str(caught.value) and "\n" not in str(caught.value)
