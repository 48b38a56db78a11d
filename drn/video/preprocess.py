"""The geometric half of a backbone's preprocessing (resize, centre crop), on uint8 frames.

It runs where frames are decoded (worker processes), so only small crops travel to the model; the
other half (to float, normalise with mean/std) runs in `Backbone.encode` on the model's device.
Split this way the two halves compute exactly what the backbone's own transform computes:

- torchvision video models: `weights.transforms()` (`VideoClassification`) resizes the uint8
  frames (bilinear, antialias off), centre-crops, then converts and normalises; `torch` below calls
  the same torchvision functions with the same arguments.
- CLIP: open_clip's `preprocess` resizes the PIL image's shorter side (bicubic, antialiased) and
  centre-crops, then converts and normalises; `open_clip` below runs those two PIL transforms.
"""

from __future__ import annotations

import numpy as np
import torch


class FramePreprocess:
    """Callable uint8 [H, W, 3] -> uint8 [frame_size, frame_size, 3]; picklable for workers.

    Args:
        resizer: "torchvision" (tensor resize + crop) or "open_clip" (its PIL Resize + CenterCrop).
        resize_size: (short side,) or (height, width) of the resize before the crop.
        frame_size: side of the square centre crop.
        interpolation: "bilinear" or "bicubic".
    """

    def __init__(self, resizer: str, resize_size: tuple[int, ...], frame_size: int, interpolation: str):
        if resizer not in ("torchvision", "open_clip"):
            raise ValueError(f"resizer must be 'torchvision' or 'open_clip', got {resizer!r}")
        self.resizer = resizer
        self.resize_size = tuple(resize_size)
        self.frame_size = int(frame_size)
        self.interpolation = interpolation
        self._pil_transform = None
        if resizer == "torchvision":
            import torchvision.transforms.functional  # noqa: F401 - imported once here, before workers fork

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self.resizer == "open_clip":
            return self._open_clip(frame)
        return self.frames(torch.from_numpy(np.ascontiguousarray(frame)).unsqueeze(0))[0].numpy()

    def frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Batched form: uint8 [N, H, W, 3] -> uint8 [N, S, S, 3] (any device for "torchvision")."""
        if self.resizer == "open_clip":
            return torch.stack([torch.from_numpy(self._open_clip(f)) for f in frames.cpu().numpy()]).to(frames.device)
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as F

        chw = frames.permute(0, 3, 1, 2)
        chw = F.resize(chw, list(self.resize_size), interpolation=InterpolationMode(self.interpolation),
                       antialias=False)  # as torchvision's VideoClassification preset does
        chw = F.center_crop(chw, [self.frame_size, self.frame_size])
        return chw.permute(0, 2, 3, 1).contiguous()

    def _open_clip(self, frame: np.ndarray) -> np.ndarray:
        from PIL import Image

        if self._pil_transform is None:
            self._pil_transform = open_clip_geometry(self.frame_size)
        return np.array(self._pil_transform(Image.fromarray(frame)), dtype=np.uint8)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_pil_transform"] = None  # rebuilt where it is used
        return state


def open_clip_geometry(image_size: int):
    """The resize and centre-crop steps of open_clip's inference `preprocess` (PIL in, PIL out)."""
    import open_clip
    from torchvision.transforms import CenterCrop, Compose, Resize

    preprocess = open_clip.image_transform(image_size, is_train=False)
    steps = [t for t in preprocess.transforms if isinstance(t, (Resize, CenterCrop))]
    if len(steps) != 2:
        raise RuntimeError(f"open_clip's preprocess changed shape: {preprocess}")
    return Compose(steps)
