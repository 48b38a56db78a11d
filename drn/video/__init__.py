"""Video files in: decoding (PyAV), the backbone registry, and clip-feature extraction (`drn extract`).

    from drn.video import load_backbone, extract_video
    backbone = load_backbone("clip-vit-b32")            # or "s3d", "r2plus1d_18", "mvit_v2_s", "tiny"
    result = extract_video("movie.mp4", backbone)       # result.features: float32 [clips, 512]

Needs the `video` extra (`pip install "drn[video]"`: av, open_clip_torch).
"""

from drn.video.backbones import BACKBONES, Backbone, BackboneSpec, get_spec, load_backbone, load_backbone_for
from drn.video.decode import ClipStream, VideoInfo, clip_sample_times, probe
from drn.video.errors import BackboneError, VideoError
from drn.video.extract import ExtractSummary, VideoFeatures, extract_video, extract_videos, extraction_settings
from drn.video.sources import find_videos

__all__ = [
    "BACKBONES", "Backbone", "BackboneError", "BackboneSpec", "ClipStream", "ExtractSummary", "VideoError",
    "VideoFeatures", "VideoInfo", "clip_sample_times", "extract_video", "extract_videos", "extraction_settings",
    "find_videos", "get_spec", "load_backbone", "load_backbone_for", "probe",
]
