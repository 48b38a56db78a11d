"""The backbone registry: clip definitions and preprocessing equal the libraries' own, output widths,
weights from files, and the one-line errors for names and weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drn.video import BACKBONES, BackboneError, get_spec, load_backbone

TORCHVISION = ["s3d", "r2plus1d_18", "mvit_v2_s"]


def random_clips(n: int, frames: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, frames, height, width, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_specs_match_the_weights_transforms(name):
    from torchvision.models import get_model_weights

    preset = get_model_weights(name).KINETICS400_V1.transforms()
    spec = get_spec(name)
    assert [spec.frame_size] * 2 == list(preset.crop_size)
    assert list(spec.resize_size) == list(preset.resize_size)
    assert spec.interpolation == preset.interpolation.value
    assert list(spec.mean) == list(preset.mean) and list(spec.std) == list(preset.std)


@pytest.fixture(scope="module")
def r2plus1d():
    return load_backbone("r2plus1d_18", "none")


def test_torchvision_preprocessing_equals_the_weights_transform(r2plus1d):
    """Resize/crop (done by the decoding workers) plus normalisation = torchvision's preset, on raw frames."""
    from torchvision.models import get_model_weights

    clips = random_clips(1, 16, 150, 203)
    expected = get_model_weights("r2plus1d_18").KINETICS400_V1.transforms()(clips[0].permute(0, 3, 1, 2))
    torch.testing.assert_close(r2plus1d.network_input(clips)[0], expected, atol=1e-5, rtol=0)
    # Workers resize each frame on its own; the result is the same as resizing the batch.
    per_frame = torch.stack([torch.from_numpy(r2plus1d.spec.preprocess()(f.numpy())) for f in clips[0]])
    torch.testing.assert_close(r2plus1d.network_input(per_frame[None]), r2plus1d.network_input(clips), rtol=0, atol=0)


@pytest.mark.slow
def test_clip_tower_preprocesses_as_open_clip_and_encodes_512():
    open_clip = pytest.importorskip("open_clip")
    from PIL import Image

    cfg = open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    preprocess = open_clip.image_transform(224, is_train=False, mean=cfg["mean"], std=cfg["std"],
                                           interpolation=cfg["interpolation"], resize_mode=cfg["resize_mode"])
    backbone = load_backbone("clip-vit-b32", "none")
    clips = random_clips(2, 1, 180, 250)
    expected = torch.stack([preprocess(Image.fromarray(c[0].numpy())) for c in clips])
    torch.testing.assert_close(backbone.network_input(clips), expected, atol=1e-5, rtol=0)
    features = backbone.encode(clips)
    assert features.shape == (2, 512) and torch.isfinite(features).all()


@pytest.mark.parametrize("name", ["tiny", pytest.param("r2plus1d_18", marks=pytest.mark.slow),
                                  pytest.param("s3d", marks=pytest.mark.slow),
                                  pytest.param("mvit_v2_s", marks=pytest.mark.slow)])
def test_each_backbone_encodes_clips_to_its_width(name):
    backbone = load_backbone(name, "none")
    spec = backbone.spec
    clips = random_clips(2, spec.frames_per_clip, spec.frame_size, spec.frame_size)
    features = backbone.encode(clips)
    assert features.shape == (2, spec.dim) and features.dtype == torch.float32
    assert torch.isfinite(features).all() and not torch.equal(features[0], features[1])


def test_random_init_is_the_same_network_in_every_process(r2plus1d):
    torch.manual_seed(123)  # whatever the global RNG holds
    again = load_backbone("r2plus1d_18", "none")
    for (name, a), b in zip(r2plus1d.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    torch.manual_seed(456)
    c, d = load_backbone("tiny"), load_backbone("tiny")
    tiny_clips = random_clips(1, 8, 64, 64)
    torch.testing.assert_close(c.encode(tiny_clips), d.encode(tiny_clips), rtol=0, atol=0)


def test_building_a_random_backbone_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    load_backbone("tiny")
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_weights_file_is_loaded_and_recorded(tmp_path):
    from torchvision.models import get_model

    torch.manual_seed(7)
    reference = get_model("r2plus1d_18", weights=None).state_dict()
    path = tmp_path / "r2plus1d.pth"
    torch.save({"model": reference}, path)  # wrapped the way training scripts save it
    backbone = load_backbone("r2plus1d_18", str(path))
    assert backbone.weights.startswith(f"file:{path.resolve()} sha256:")
    loaded = backbone.trunk.state_dict()
    assert set(reference) - set(loaded) == {"fc.weight", "fc.bias"}  # the classifier is dropped
    for name, value in loaded.items():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=0, msg=name)


def test_weights_file_of_the_wrong_model_is_one_line(tmp_path):
    path = tmp_path / "tiny_state.pth"
    torch.save(load_backbone("tiny").trunk.state_dict(), path)
    with pytest.raises(BackboneError, match=r"^--weights .*tiny_state.pth: not a s3d state dict \(\d+ missing keys"):
        load_backbone("s3d", str(path))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneError, match="cannot read it as a PyTorch checkpoint"):
        load_backbone("s3d", str(garbage))


def test_unknown_name_and_missing_weights_file_are_one_line(tmp_path):
    with pytest.raises(BackboneError, match=r"^no backbone 'i3d'; choose one of clip-vit-b32, s3d"):
        load_backbone("i3d")
    with pytest.raises(BackboneError, match=r"^--weights .*absent.pth: no such file"):
        load_backbone("s3d", str(tmp_path / "absent.pth"))


def test_registry_widths_are_the_published_ones():
    assert {name: spec.dim for name, spec in BACKBONES.items()} == {
        "clip-vit-b32": 512, "s3d": 1024, "r2plus1d_18": 512, "mvit_v2_s": 768, "tiny": 128}
    assert get_spec("clip-vit-b32").clip_seconds == 2.0 and get_spec("clip-vit-b32").frames_per_clip == 1


def test_encode_rejects_clips_of_the_wrong_shape():
    backbone = load_backbone("tiny")
    with pytest.raises(ValueError, match=r"clips must be uint8 \[N, 8, H, W, 3\]"):
        backbone.encode(np.zeros((1, 4, 64, 64, 3), np.uint8))


def test_load_backbone_for_recorded_settings(tmp_path):
    from drn.video import extraction_settings, load_backbone_for

    tiny = load_backbone("tiny")
    settings = extraction_settings(tiny)
    again = load_backbone_for(settings)
    clips = random_clips(1, 8, 64, 64)
    torch.testing.assert_close(again.encode(clips), tiny.encode(clips), rtol=0, atol=0)
    with pytest.raises(BackboneError, match=r"backbone tiny now has dim 128 but the features were extracted with dim 64"):
        load_backbone_for({**settings, "dim": 64})

    path = tmp_path / "w.pth"
    torch.save(load_backbone("r2plus1d_18", "none").trunk.state_dict() | {"fc.weight": torch.zeros(400, 512),
                                                                           "fc.bias": torch.zeros(400)}, path)
    recorded = extraction_settings(load_backbone("r2plus1d_18", str(path)))
    assert load_backbone_for(recorded).weights == recorded["weights"]
    other = tmp_path / "other.pth"
    torch.save(torch.load(path) | {"fc.bias": torch.ones(400)}, other)
    with pytest.raises(BackboneError, match="not the file the features were extracted with"):
        load_backbone_for(recorded, weights=str(other))
    path.unlink()
    with pytest.raises(BackboneError, match="which is not there; pass the same file as --weights FILE"):
        load_backbone_for(recorded)
