import pytest
import torch
import torch.nn.functional as F

from drn.model.temporal_conv import temporal_conv


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_equals_conv1d_with_its_gradients(k, dtype, tol):
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(4, 9, 24, generator=gen, dtype=dtype, requires_grad=True)  # [B, T, C]
    weight = torch.randn(7, 24, k, generator=gen, dtype=dtype, requires_grad=True)
    upstream = torch.randn(4, 7, 9, generator=gen, dtype=dtype)
    ours = temporal_conv(x, weight)
    reference = F.conv1d(x.transpose(1, 2), weight, padding=k // 2)
    assert ours.shape == (4, 7, 9)
    torch.testing.assert_close(ours, reference, rtol=tol, atol=tol)
    for a, b in zip(torch.autograd.grad((ours * upstream).sum(), (x, weight)),
                    torch.autograd.grad((reference * upstream).sum(), (x, weight))):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * 10)


def test_bf16_under_autocast_like_the_convolution():
    gen = torch.Generator().manual_seed(0)
    x, weight = torch.randn(2, 32, 300, generator=gen), torch.randn(16, 300, 3, generator=gen) * 0.05
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = temporal_conv(x, weight)
    assert ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), F.conv1d(x.transpose(1, 2), weight, padding=1), rtol=2e-2, atol=5e-2)


def test_the_first_fusion_level_is_the_published_convolution(small_config):
    """C1 = ConvBNReLU(cat(cmd_0 * x, positions)): computed as two GEMMs split at the concatenation."""
    from drn.model.backbone import FusionBackbone

    torch.manual_seed(0)
    config = small_config()
    backbone = FusionBackbone(config).double().eval()
    with torch.no_grad():
        backbone.levels[0][1].running_mean.uniform_(-1, 1)
    features = torch.randn(3, config.num_clips, config.feature_dim, dtype=torch.float64)
    commands = [torch.randn(3, width, dtype=torch.float64) for width in
                (config.feature_dim, config.level_channels[0], config.level_channels[1])]
    video, positions = backbone.encode_video(features)
    with torch.no_grad():
        c1 = backbone.fuse(video, positions, commands)[0]
        x = torch.cat([video * commands[0][:, None, :], positions.expand(3, -1, -1)], dim=-1).transpose(1, 2)
        torch.testing.assert_close(c1, backbone.levels[0](x), rtol=1e-12, atol=1e-12)
