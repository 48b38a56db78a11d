"""The backbone registry: name -> clip definition, preprocessing and output width; `load_backbone`.

| name          | network (weights)                                   | clip            | frames | input | D    |
| ------------- | --------------------------------------------------- | --------------- | ------ | ----- | ---- |
| `clip-vit-b32`| open_clip ViT-B-32 image tower (pretrained "openai") | 2 s             | 1      | 224   | 512  |
| `s3d`         | torchvision S3D, Kinetics-400 (KINETICS400_V1)      | 16/15 s         | 16     | 224   | 1024 |
| `r2plus1d_18` | torchvision R(2+1)D-18, Kinetics-400                | 16/15 s         | 16     | 112   | 512  |
| `mvit_v2_s`   | torchvision MViT-v2-S, Kinetics-400                 | 16/7.5 s        | 16     | 224   | 768  |
| `tiny`        | 3D conv net, fixed random weights (tests, demos)    | 1 s             | 8      | 64    | 128  |

Clip definitions: CLIP at one frame per 2 s clip is the QVHighlights / lighthouse convention. The
Kinetics models see 16 frames at the frame rate they were trained at: 15 fps for torchvision's own
S3D and R(2+1)D recipes, 7.5 fps (every 4th frame at 30 fps, "16x4") for MViT-v2-S from
PySlowFast. Preprocessing is each model's own (see `drn.video.preprocess`); the feature is the
layer before the classifier (CLIP: the image embedding, not L2-normalised).

Weights: "default" uses the library's mechanism (torchvision's weight enum into the torch hub
cache; open_clip's pretrained tag into the Hugging Face cache); "none" is a fixed-seed random
init (tests, timing); a PATH is a checkpoint file for offline machines (torchvision: the `.pth`
state dict the enum's URL serves; CLIP: an open_clip checkpoint of ViT-B-32).
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from drn.video.errors import BackboneError
from drn.video.preprocess import FramePreprocess

logger = logging.getLogger(__name__)

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
NONE_SEED = 0  # "--weights none" draws from this seed, so every process builds the same network


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone's clip definition, preprocessing and output.

    clip_seconds: seconds per clip (one feature row per clip); frames_per_clip: frames sampled per
    clip; frame_size: side of the square crop the network sees; resize_size: (short side,) or
    (height, width) before the crop; mean/std: per-channel normalisation of [0, 1] RGB; dim: the
    feature width D; default_weights: the weights id "default" resolves to; kind: "image" (frames
    encoded one by one and averaged over the clip) or "video" ([N, 3, F, H, W] in one pass).
    """

    name: str
    clip_seconds: float
    frames_per_clip: int
    frame_size: int
    resize_size: tuple[int, ...]
    interpolation: str
    resizer: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int
    default_weights: str
    kind: str
    description: str

    def preprocess(self) -> FramePreprocess:
        """The per-frame resize and crop (uint8 [H, W, 3] -> uint8 [S, S, 3])."""
        return FramePreprocess(self.resizer, self.resize_size, self.frame_size, self.interpolation)

    def as_dict(self) -> dict:
        return asdict(self)


def _kinetics(name, frames_per_clip, fps, frame_size, resize_size, dim, mean=KINETICS_MEAN, std=KINETICS_STD,
              enum=""):
    return BackboneSpec(name=name, clip_seconds=frames_per_clip / fps, frames_per_clip=frames_per_clip,
                        frame_size=frame_size, resize_size=resize_size, interpolation="bilinear",
                        resizer="torchvision", mean=mean, std=std, dim=dim, default_weights=enum, kind="video",
                        description=f"torchvision {name}, Kinetics-400, {frames_per_clip} frames at {fps:g} fps")


BACKBONES: dict[str, BackboneSpec] = {
    "clip-vit-b32": BackboneSpec(
        name="clip-vit-b32", clip_seconds=2.0, frames_per_clip=1, frame_size=224, resize_size=(224,),
        interpolation="bicubic", resizer="open_clip", mean=CLIP_MEAN, std=CLIP_STD, dim=512,
        default_weights="open_clip:ViT-B-32/openai", kind="image",
        description="open_clip ViT-B-32 image tower, one frame per 2 s clip (QVHighlights convention)"),
    "s3d": _kinetics("s3d", 16, 15.0, 224, (256, 256), 1024, enum="torchvision:S3D_Weights.KINETICS400_V1"),
    "r2plus1d_18": _kinetics("r2plus1d_18", 16, 15.0, 112, (128, 171), 512,
                             enum="torchvision:R2Plus1D_18_Weights.KINETICS400_V1"),
    "mvit_v2_s": _kinetics("mvit_v2_s", 16, 7.5, 224, (256,), 768, mean=(0.45, 0.45, 0.45),
                           std=(0.225, 0.225, 0.225), enum="torchvision:MViT_V2_S_Weights.KINETICS400_V1"),
    "tiny": BackboneSpec(
        name="tiny", clip_seconds=1.0, frames_per_clip=8, frame_size=64, resize_size=(64,),
        interpolation="bilinear", resizer="torchvision", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
        dim=128, default_weights="none", kind="video",
        description="small 3D conv net with fixed random weights: for tests and CPU demos, not a trained model"),
}


def get_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise BackboneError(f"no backbone {name!r}; choose one of {', '.join(BACKBONES)}") from None


class Backbone(nn.Module):
    """A feature extractor: `encode(clips)` turns uint8 RGB clips into one feature row per clip.

    Attributes: `spec` (BackboneSpec), `weights` (the weights id: "none", "open_clip:...",
    "torchvision:...", or "file:PATH"), `device`, `amp_dtype` (autocast dtype on CUDA, else None).
    """

    def __init__(self, spec: BackboneSpec, trunk: nn.Module, weights: str, device: str | torch.device = "cpu"):
        super().__init__()
        self.spec = spec
        self.trunk = trunk.eval().requires_grad_(False)
        self.weights = weights
        self.device = torch.device(device)
        self.to(self.device)
        self.amp_dtype = None
        if self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.register_buffer("_mean", torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1), persistent=False)
        self._preprocess = spec.preprocess()

    def network_input(self, clips: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 RGB clips [N, F, H, W, 3] (F = spec.frames_per_clip) -> the normalised float tensor the
        network takes, on the backbone's device: [N * F, 3, S, S] for "image", [N, 3, F, S, S] for "video".

        Frames not already at spec.frame_size are resized and cropped here first, exactly as the
        decoding workers would have done.
        """
        x = torch.as_tensor(clips)
        if x.ndim != 5 or x.shape[-1] != 3 or x.dtype != torch.uint8 or x.shape[1] != self.spec.frames_per_clip:
            raise ValueError(f"{self.spec.name}: clips must be uint8 [N, {self.spec.frames_per_clip}, H, W, 3], "
                             f"got {x.dtype} {tuple(x.shape)}")
        n, f = x.shape[:2]
        frames = x.reshape(n * f, *x.shape[2:])
        if tuple(frames.shape[1:3]) != (self.spec.frame_size, self.spec.frame_size):
            frames = self._preprocess.frames(frames)
        frames = frames.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        frames = (frames - self._mean) / self._std
        if self.spec.kind == "image":
            return frames
        s = self.spec.frame_size
        return frames.reshape(n, f, 3, s, s).transpose(1, 2)

    @torch.inference_mode()
    def encode(self, clips: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 RGB clips [N, F, H, W, 3] (any H, W; see `network_input`) -> float32 features [N, D] on
        the CPU. Image backbones average their F frame embeddings; autocast (bf16/fp16) on CUDA."""
        n = len(clips)
        if n == 0:
            return torch.empty(0, self.spec.dim)
        x = self.network_input(clips)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            out = self.trunk(x)
        if self.spec.kind == "image":
            out = out.float().reshape(n, self.spec.frames_per_clip, -1).mean(1)
        return out.float().cpu()


def load_backbone(name: str, weights: str = "default", device: str | torch.device = "cpu") -> Backbone:
    """Build backbone `name` with `weights` ("default", "none" or a checkpoint PATH) on `device`.

    Raises `BackboneError` (one line: what is missing and where to put it) when the name is
    unknown, the file does not exist or does not fit, or default weights cannot be obtained.
    """
    spec = get_spec(name)
    if weights not in ("default", "none"):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BackboneError(f"--weights {weights}: no such file (expected a {name} checkpoint, 'default' or 'none')")
    if name == "tiny":
        if weights not in ("default", "none"):
            raise BackboneError(f"--weights {weights}: backbone tiny has fixed random weights; use 'default' or 'none'")
        from drn.video.tiny import build_tiny

        return Backbone(spec, build_tiny(), "none", device)
    if name == "clip-vit-b32":
        trunk, weights_id = _build_clip(spec, weights)
    else:
        trunk, weights_id = _build_torchvision(spec, weights)
    return Backbone(spec, trunk, weights_id, device)


def _file_weights_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"file:{path.resolve()} sha256:{digest.hexdigest()[:16]}"


def _seeded(build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(NONE_SEED)
        return build()


def _build_torchvision(spec: BackboneSpec, weights: str) -> tuple[nn.Module, str]:
    from torchvision.models import get_model, get_model_weights

    enum = get_model_weights(spec.name).KINETICS400_V1
    if weights == "none":
        model, weights_id = _seeded(lambda: get_model(spec.name, weights=None)), "none"
    elif weights == "default":
        model, weights_id = _download_torchvision(spec, enum), spec.default_weights
    else:
        path = Path(weights).expanduser()
        model = get_model(spec.name, weights=None)
        _load_state_dict(model, path, spec)
        weights_id = _file_weights_id(path)
    _drop_classifier(spec.name, model)
    return model, weights_id


def _download_torchvision(spec: BackboneSpec, enum) -> nn.Module:
    from torchvision.models import get_model

    cache = Path(torch.hub.get_dir()) / "checkpoints"
    filename = os.path.basename(enum.url)
    try:
        return get_model(spec.name, weights=enum)
    except (OSError, RuntimeError, ValueError) as exc:  # URLError is an OSError
        reason = " ".join(str(exc).split())[:200]
        raise BackboneError(
            f"backbone {spec.name}: weights {filename} are not in {cache} and could not be downloaded ({reason}); "
            f"download {enum.url} into {cache}, or pass --weights FILE") from None


def _load_state_dict(model: nn.Module, path: Path, spec: BackboneSpec) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise BackboneError(f"--weights {path}: cannot read it as a PyTorch checkpoint "
                            f"({' '.join(str(exc).split())[:200]})") from None
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise BackboneError(f"--weights {path}: expected a state dict of torchvision's {spec.name}, "
                            f"got {type(state).__name__}")
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise BackboneError(f"--weights {path}: not a {spec.name} state dict ({len(result.missing_keys)} missing keys, "
                            f"e.g. {result.missing_keys[:2]}; {len(result.unexpected_keys)} unexpected, "
                            f"e.g. {result.unexpected_keys[:2]})")


def _drop_classifier(name: str, model: nn.Module) -> None:
    """Replace the Kinetics classifier with Identity: the model then returns the pooled feature."""
    if name == "s3d":
        model.classifier = nn.Identity()  # forward then averages [N, 1024, t, 1, 1] to [N, 1024]
    elif name == "r2plus1d_18":
        model.fc = nn.Identity()
    elif name == "mvit_v2_s":
        model.head = nn.Identity()  # forward returns the class token [N, 768]
    else:
        raise AssertionError(name)


def _build_clip(spec: BackboneSpec, weights: str) -> tuple[nn.Module, str]:
    import open_clip

    arch, tag = spec.default_weights.removeprefix("open_clip:").split("/")
    if weights == "none":
        model, weights_id = _seeded(lambda: open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)), "none"
    else:
        pretrained = tag if weights == "default" else str(Path(weights).expanduser())
        try:
            model = open_clip.create_model(arch, pretrained=pretrained, force_quick_gelu=True)
        except Exception as exc:  # noqa: BLE001 - download and checkpoint failures alike
            reason = " ".join(str(exc).split())[:200]
            if weights == "default":
                from huggingface_hub.constants import HF_HUB_CACHE

                repo = open_clip.get_pretrained_cfg(arch, tag).get("hf_hub", "").strip("/")
                raise BackboneError(
                    f"backbone {spec.name}: open_clip weights {arch}/{tag} are not in the Hugging Face cache "
                    f"{HF_HUB_CACHE} and could not be downloaded; download open_clip_pytorch_model.bin from "
                    f"https://huggingface.co/{repo} and pass it as --weights FILE") from None
            raise BackboneError(f"--weights {weights}: not an open_clip {arch} checkpoint ({reason})") from None
        weights_id = spec.default_weights if weights == "default" else _file_weights_id(Path(weights).expanduser())
    return model.visual, weights_id


def load_backbone_for(settings: dict, weights: str | None = None, device: str | torch.device = "cpu") -> Backbone:
    """The backbone that produced features with these extraction `settings` (extract.json, or what a
    checkpoint recorded from it), so new videos are encoded as the training features were.

    The recorded weights id is mapped back: "none" -> "none", the registry's default id ->
    "default", "file:PATH sha256:..." -> PATH (its hash checked). `weights` overrides that (e.g.
    the same file on another machine). Raises `BackboneError` when the backbone or its clip
    definition no longer matches the settings, or the recorded file is gone or different.
    """
    spec = get_spec(str(settings.get("backbone")))
    recorded = str(settings.get("weights", ""))
    if weights is None:
        if recorded == "none" or recorded == spec.default_weights:
            weights = "none" if recorded == "none" else "default"
        elif recorded.startswith("file:"):
            weights = recorded.removeprefix("file:").rsplit(" sha256:", 1)[0]
            if not Path(weights).is_file():
                raise BackboneError(f"the features were extracted with {spec.name} weights {weights}, which is not "
                                    "there; pass the same file as --weights FILE")
        else:
            raise BackboneError(f"the features were extracted with {spec.name} weights {recorded!r}, which this "
                                "version cannot load; pass --weights FILE")
    expected = {"clip_seconds": spec.clip_seconds, "frames_per_clip": spec.frames_per_clip,
                "frame_size": spec.frame_size, "dim": spec.dim}
    differing = {k: (settings.get(k), v) for k, v in expected.items() if k in settings and settings[k] != v}
    if differing:
        raise BackboneError(f"backbone {spec.name} now has {', '.join(f'{k} {v!r}' for k, (_, v) in differing.items())}"
                            f" but the features were extracted with "
                            f"{', '.join(f'{k} {old!r}' for k, (old, _) in differing.items())}")
    backbone = load_backbone(spec.name, weights, device)
    if recorded.startswith("file:") and backbone.weights.startswith("file:") and \
            backbone.weights.rsplit(" sha256:", 1)[-1] != recorded.rsplit(" sha256:", 1)[-1]:
        raise BackboneError(f"--weights {weights}: not the file the features were extracted with "
                            f"(sha256 {backbone.weights.rsplit(' sha256:', 1)[-1]}, recorded {recorded.rsplit(' sha256:', 1)[-1]})")
    return backbone
