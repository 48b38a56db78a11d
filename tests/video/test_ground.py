"""Choosing the backbone for a checkpoint's videos: the record wins, every mismatch is one line."""

from __future__ import annotations

import pytest

from drn.video.ground import ExtractionMismatchError, loadable_weights, resolve_backbone

TINY_RECORD = {"backbone": "tiny", "weights": "none", "clip_seconds": 1.0, "frames_per_clip": 8, "frame_size": 64,
               "dim": 128, "dtype": "float32"}


def test_recorded_backbone_and_weights_are_used():
    assert resolve_backbone(TINY_RECORD, 128, None, None) == ("tiny", "none")
    assert resolve_backbone(TINY_RECORD, 128, "tiny", None) == ("tiny", "none")
    assert resolve_backbone(None, 128, "tiny", None) == ("tiny", "default")
    assert resolve_backbone({**TINY_RECORD, "backbone": "s3d", "dim": 1024, "weights": "torchvision:S3D"}, 1024, None,
                            None) == ("s3d", "default")


@pytest.mark.parametrize("record, dim, backbone, message", [
    (None, 128, None, "records no extraction settings (its training features did not come from drn extract); "
                      "name the backbone they came from with --backbone"),
    (TINY_RECORD, 128, "s3d", "was trained on features of backbone 'tiny', not 's3d'"),
    (None, 16, "tiny", "backbone 'tiny' gives 128-d features but the checkpoint takes D = 16"),
    (None, 128, "resnet", "unknown backbone 'resnet'; choose one of"),
])
def test_mismatches_are_one_line_errors(record, dim, backbone, message):
    with pytest.raises(ExtractionMismatchError) as caught:
        resolve_backbone(record, dim, backbone, None)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_recorded_weights_ids_map_to_load_backbone_arguments():
    assert loadable_weights("none") == "none"
    assert loadable_weights("file:/models/s3d.pth sha256:0123456789abcdef") == "/models/s3d.pth"
    assert loadable_weights("torchvision:S3D_Weights.KINETICS400_V1") == "default"
    assert loadable_weights("open_clip:ViT-B-32/openai") == "default"
