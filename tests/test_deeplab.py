"""DeepLab v1/v2/v3/v3+ and PSPNet: output shapes for several sizes, the padding message for
sizes a model cannot take, a backward pass, parameter counts by formula, and the atrous
backbone computing the strided backbone's features densely."""

import itertools

import pytest
import torch

from seglib.analysis import count_params
from seglib.models.deeplab import (
    ASPP,
    ASPPv2,
    AtrousBackbone,
    DeepLabV1,
    DeepLabV2,
    DeepLabV3,
    DeepLabV3Plus,
    atrous_schedule,
    padding_fraction,
    scaled_rates,
)
from seglib.models.psp import PSPNet, PyramidPooling

TINY = dict(widths=(4, 6, 8, 8, 12))
MODELS = {
    "v1": (lambda: DeepLabV1(5, widths=(4, 6, 8, 8), fc_width=8), 8),
    "v2": (lambda: DeepLabV2(5, rates=(1, 2), **TINY), 8),
    "v3": (lambda: DeepLabV3(5, aspp_channels=8, **TINY), 8),
    "v3+": (lambda: DeepLabV3Plus(5, aspp_channels=8, low_channels=4, **TINY), 16),
    "psp": (lambda: PSPNet(5, bins=(1, 2), **TINY), 8),
}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [(32, 32), (48, 64), (64, 80)])
def test_output_shape(name, size):
    build, _ = MODELS[name]
    model = build().eval()
    assert model(torch.randn(2, 3, *size)).shape == (2, 5, *size)


@pytest.mark.parametrize("name", MODELS)
def test_bad_size_suggests_padding(name):
    build, multiple = MODELS[name]
    with pytest.raises(ValueError, match=rf"divisible by {multiple}, got 60×50. Pad to 64×{50 + (-50) % multiple}"):
        build()(torch.randn(1, 3, 60, 50))
    with pytest.raises(ValueError, match=r"3 input channel"):
        build()(torch.randn(1, 1, 64, 64))


@pytest.mark.parametrize("name", MODELS)
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)  # the same weights, inputs and targets in every run and test order
    model = MODELS[name][0]()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.randint(0, 5, (2, 32, 32)))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_atrous_schedule():
    assert atrous_schedule((2, 2, 2, 2), 16) == [(2, 1), (2, 1), (2, 1), (2, 1)]
    assert atrous_schedule((2, 2, 2, 2), 4) == [(2, 1), (2, 1), (1, 2), (1, 4)]
    with pytest.raises(ValueError, match="power of 2"):
        atrous_schedule((2, 2), 3)


@pytest.mark.parametrize("output_stride", [4, 8, 16])
def test_atrous_backbone_is_the_strided_one_computed_densely(output_stride):
    """Stride → dilation keeps the weights and computes every output of the strided network,
    plus the ones in between: subsampling the dense map gives the strided map exactly."""
    torch.manual_seed(0)
    strided = AtrousBackbone(widths=(4, 6, 8, 8, 12), output_stride=32).eval()
    dense = AtrousBackbone(widths=(4, 6, 8, 8, 12), output_stride=output_stride).eval()
    dense.load_state_dict(strided.state_dict())
    x = torch.randn(2, 3, 64, 64)
    step = 32 // output_stride
    high = dense(x)["out"]
    assert high.shape[-1] == 64 // output_stride
    assert dense(x)["low"].shape[-1] == 64 // 4  # the v3+ decoder's stride-4 features
    torch.testing.assert_close(high[..., ::step, ::step], strided(x)["out"], atol=1e-5, rtol=1e-4)


def test_parameter_counts_by_formula():
    cin, cout, rates, classes, width = 12, 8, (1, 2, 3), 5, 7
    conv_bn = lambda i, o, k: i * o * k * k + 2 * o  # conv without bias + batch norm
    aspp = (
        conv_bn(cin, cout, 1)
        + len(rates) * conv_bn(cin, cout, 3)
        + cin * cout
        + conv_bn(cout * (len(rates) + 2), cout, 1)
    )
    assert count_params(ASPP(cin, cout, rates)) == aspp
    depthwise = lambda c, k: c * k * k + 2 * c
    separable = lambda i, o: depthwise(i, 3) + conv_bn(i, o, 1)
    aspp_sep = (
        conv_bn(cin, cout, 1)
        + len(rates) * separable(cin, cout)
        + cin * cout
        + conv_bn(cout * (len(rates) + 2), cout, 1)
    )
    assert count_params(ASPP(cin, cout, rates, separable=True)) == aspp_sep
    v2 = 4 * ((cin * width * 9 + width) + (width * classes + classes))
    assert count_params(ASPPv2(cin, classes, (6, 12, 18, 24), width=width)) == v2
    bins = (1, 2, 3, 6)
    assert count_params(PyramidPooling(cin, bins)) == len(bins) * conv_bn(cin, cin // len(bins), 1)
    # a whole small model: backbone stages (two 3×3 ConvBN + 1×1 shortcut ConvBN each) + ASPP + head
    widths = (4, 6, 8, 8, 12)
    backbone = conv_bn(3, widths[0], 3) + sum(
        conv_bn(a, b, 3) + conv_bn(b, b, 3) + conv_bn(a, b, 1) for a, b in itertools.pairwise(widths)
    )
    assert count_params(AtrousBackbone(widths=widths)) == backbone
    head = conv_bn(cout, cout, 3) + cout * classes + classes
    assert count_params(DeepLabV3(classes, widths=widths, rates=rates, aspp_channels=cout)) == backbone + aspp + head


def test_pyramid_pooling_shapes_and_message():
    ppm = PyramidPooling(8, bins=(1, 2, 4, 8)).eval()
    assert ppm(torch.randn(1, 8, 9, 7)).shape == (1, 16, 9, 7)
    with pytest.raises(ValueError, match="divisible by the number of bins"):
        PyramidPooling(6, bins=(1, 2, 3, 6))


@pytest.mark.parametrize("size", [1, 4, 8, 28, 41])
@pytest.mark.parametrize("rate", [1, 2, 5, 24, 60])
def test_padding_fraction_counts_the_taps_a_zero_padded_convolution_reads(size, rate):
    ones = torch.ones(1, 1, size, size)
    inside = torch.nn.functional.conv2d(ones, torch.ones(1, 1, 3, 3), padding=rate, dilation=rate).sum()
    assert padding_fraction(size, rate) == pytest.approx(1 - float(inside) / (9 * size * size))


def test_scaled_rates_keep_the_papers_share_of_the_map():
    assert scaled_rates((6, 12, 18, 24), paper_map=41, map_size=8) == (1, 2, 4, 5)
    assert scaled_rates((6, 12, 18), paper_map=33, map_size=33) == (6, 12, 18)
    assert scaled_rates((6,), paper_map=65, map_size=4) == (1,)  # never below 1
    for paper, ours in zip((6, 12, 18, 24), scaled_rates((6, 12, 18, 24), 41, 8), strict=True):
        assert abs(padding_fraction(8, ours) - padding_fraction(41, paper)) < 0.07
    with pytest.raises(ValueError, match="positive"):
        scaled_rates((0, 6), 41, 8)
    with pytest.raises(ValueError, match="odd kernel_size"):
        padding_fraction(8, 2, kernel_size=2)
