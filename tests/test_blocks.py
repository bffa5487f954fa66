"""Shared model blocks: Squeeze-and-Excitation against torchvision, separable convolution
parameter counts, and the input checks every model uses."""

import pytest
import torch
import torchvision

from seglib.analysis import count_params
from seglib.models.blocks import ConvBNReLU, SeparableConv2d, SqueezeExcitation, check_input


@pytest.mark.parametrize("channels,reduction", [(32, 4), (64, 16), (8, 16)])
def test_squeeze_excitation_matches_torchvision(channels, reduction):
    torch.manual_seed(channels)
    ours = SqueezeExcitation(channels, reduction)
    reference = torchvision.ops.SqueezeExcitation(channels, max(1, channels // reduction))
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(3, channels, 7, 5)
    torch.testing.assert_close(ours(x), reference(x))


def test_separable_conv_is_depthwise_then_pointwise():
    block = SeparableConv2d(16, 32, kernel_size=3, dilation=2)
    depthwise, pointwise = block[0][0], block[1][0]
    assert depthwise.groups == 16 and depthwise.weight.shape == (16, 1, 3, 3) and depthwise.dilation == (2, 2)
    assert pointwise.weight.shape == (32, 16, 1, 1)
    # depthwise 16·9 + pointwise 16·32 weights, plus two batch norms (2 parameters per channel)
    assert count_params(block) == 16 * 9 + 16 * 32 + 2 * 16 + 2 * 32
    assert block(torch.randn(2, 16, 9, 9)).shape == (2, 32, 9, 9)


@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_conv_bn_relu_keeps_the_size(dilation):
    assert ConvBNReLU(3, 8, 3, dilation=dilation)(torch.randn(1, 3, 11, 13)).shape == (1, 8, 11, 13)


def test_check_input_messages():
    check_input(torch.randn(2, 3, 64, 32), in_channels=3, multiple=16)
    with pytest.raises(ValueError, match=r"divisible by 16, got 100×70. Pad to 112×80.*\(0, 10, 0, 12\)"):
        check_input(torch.randn(1, 3, 100, 70), multiple=16)
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        check_input(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match=r"3 input channel\(s\), got 1"):
        check_input(torch.randn(1, 1, 64, 64), in_channels=3)
    with pytest.raises(ValueError, match=r"x.float\(\)"):
        check_input(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"at least 32×32"):
        check_input(torch.randn(1, 3, 16, 64), min_size=32)
    with pytest.raises(TypeError):
        check_input([[1.0]])
