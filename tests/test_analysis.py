"""Receptive fields, parameter and MAC counts, checked against hand computation and gradients."""

import random

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from seglib import analysis


class SlidesNet(nn.Module):
    """Piccoli & Barbato's receptive-field exercise: conv3 -> maxpool2 -> conv3 (answer 8)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(32, 64, 3)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.pool(x)
        return F.relu(self.conv2(x))


def test_slides_receptive_field_is_8_analytically_and_from_gradients():
    torch.manual_seed(0)
    net = SlidesNet()
    assert analysis.receptive_field(net) == 8
    assert [row.receptive_field for row in analysis.receptive_field_table(net)] == [3, 4, 8]
    assert analysis.empirical_receptive_field(net, input_size=32) == 8


def test_stacked_dilations_give_3_7_15():
    net = nn.Sequential(
        nn.Conv2d(1, 1, 3, dilation=1),
        nn.ReLU(),
        nn.Conv2d(1, 1, 3, dilation=2),
        nn.ReLU(),
        nn.Conv2d(1, 1, 3, dilation=4),
    )
    assert [row.receptive_field for row in analysis.receptive_field_table(net)] == [3, 7, 15]


def _random_chain(rng: random.Random) -> nn.Sequential:
    layers, channels = [], 2
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.3:
            layers.append(nn.AvgPool2d(rng.randint(1, 3), stride=rng.randint(1, 2)))
        else:
            out = rng.randint(2, 4)
            layers += [
                nn.Conv2d(channels, out, rng.randint(1, 4), stride=rng.randint(1, 2), dilation=rng.randint(1, 3)),
                nn.Tanh(),
            ]
            channels = out
    return nn.Sequential(*layers)


@pytest.mark.parametrize("index", range(25))
def test_analytic_receptive_field_equals_gradient_measurement(index):
    torch.manual_seed(index)
    net = _random_chain(random.Random(index)).double()
    for p in net.parameters():
        nn.init.uniform_(p, 0.01, 0.05)  # small positive weights: nothing cancels, tanh stays unsaturated
    expected = analysis.receptive_field(net)
    assert analysis.empirical_receptive_field(net.float(), input_size=96, in_channels=2) == expected


def test_nested_sequential_and_pointwise_layers():
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()),
        nn.Dropout(),
        nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, stride=2)),
        nn.Conv2d(4, 2, 1),
    )
    table = analysis.receptive_field_table(net)
    assert [r.name for r in table] == ["0.0", "2.0", "2.1", "3"]
    assert [(r.receptive_field, r.jump) for r in table] == [(3, 1), (4, 2), (8, 4), (8, 4)]


@pytest.mark.parametrize(
    "model,match",
    [
        (
            nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 2)),
            r"'1' \(Flatten\).*empirical_receptive_field",
        ),
        (nn.Sequential(nn.ConvTranspose2d(3, 4, 3)), r"ConvTranspose2d"),
        (nn.Sequential(nn.Conv2d(3, 4, (3, 5))), r"non-square kernel \(3, 5\)"),
    ],
)
def test_unsupported_layers_get_clear_errors(model, match):
    with pytest.raises((TypeError, ValueError), match=match):
        analysis.receptive_field(model)


def test_branching_model_is_refused():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return x + self.conv(x)

    with pytest.raises(TypeError, match="skip connection or branch"):
        analysis.receptive_field(Residual())
    # ...while the gradient measurement still works: 3x3 conv plus identity -> 3.
    assert analysis.empirical_receptive_field(Residual(), input_size=16) == 3


def test_empirical_receptive_field_refuses_a_zero_gradient():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU())
    nn.init.zeros_(net[0].weight)  # output is the bias, -1, everywhere: the ReLU is off
    nn.init.constant_(net[0].bias, -1.0)
    with pytest.raises(ValueError, match="zero gradient"):
        analysis.empirical_receptive_field(net, input_size=9)


def test_empirical_receptive_field_asks_for_a_larger_input_when_it_touches_the_border():
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(6)])  # rf 13
    with pytest.raises(ValueError, match="larger input_size"):
        analysis.empirical_receptive_field(net, input_size=14)


def test_output_size_formulas_match_torch():
    rng = random.Random(0)
    for _ in range(200):
        n, k, s, p, d = rng.randint(5, 20), rng.randint(1, 5), rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 3)
        if d * (k - 1) + 1 > n + 2 * p:
            continue
        conv = nn.Conv2d(1, 1, k, s, p, d)
        assert conv(torch.zeros(1, 1, n, n)).shape[-1] == analysis.conv_output_size(n, k, s, p, d)
        op = rng.randint(0, max(s, d) - 1)
        tconv = nn.ConvTranspose2d(1, 1, k, s, 0, op, dilation=d)
        assert tconv(torch.zeros(1, 1, n, n)).shape[-1] == analysis.conv_transpose_output_size(n, k, s, 0, op, d)


def test_count_params_matches_hand_count():
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1, bias=False), nn.Linear(5, 2))
    assert analysis.count_params(net) == (8 * 3 * 9 + 8) + (8 + 8) + (4 * 8) + (5 * 2 + 2)
    net[1].requires_grad_(False)
    assert analysis.count_params(net, trainable_only=True) == analysis.count_params(net) - 16


def test_count_macs_depthwise_separable_numbers_from_the_slides():
    """TUM CV3DST: 256 kernels 5x5x3 on 8x8 positions = 1,228,800; depthwise 4,800 + pointwise 49,152."""
    shape = (3, 12, 12)  # a 5x5 kernel without padding visits 8x8 positions
    assert analysis.count_macs(nn.Conv2d(3, 256, 5), shape) == 1_228_800
    assert analysis.count_macs(nn.Conv2d(3, 3, 5, groups=3), shape) == 4_800
    assert analysis.count_macs(nn.Conv2d(3, 256, 1), (3, 8, 8)) == 49_152


def test_count_macs_counts_every_layer_type_and_batch():
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(4, 3, 2, stride=2),
        nn.Flatten(),
        nn.Linear(3 * 8 * 8, 5),
    )
    conv = 4 * 4 * 4 * (2 * 9)  # output 4x4x4, each 2*3*3 MACs
    tconv = (4 * 4 * 4) * 3 * 4  # every input element stamps 3 channels x 2x2 taps
    linear = 5 * 192
    assert analysis.count_macs(net, (2, 8, 8)) == conv + tconv + linear
    assert analysis.count_macs(net, (3, 2, 8, 8)) == 3 * (conv + tconv + linear)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(N, C, H, W\)"):
        analysis.count_macs(net, (8, 8))


def test_count_macs_works_on_the_meta_device_without_memory():
    with torch.device("meta"):
        fc6 = nn.Conv2d(512, 4096, 7)
    assert analysis.count_params(fc6) == 102_764_544
    assert analysis.count_macs(fc6, (512, 7, 7)) == 4096 * 512 * 49


def test_activation_bytes_sums_every_layer_output():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 3))
    # conv 2x8x8, relu 2x8x8, pool 2x4x4, conv 3x2x2; float32
    assert analysis.activation_bytes(net, (1, 1, 8, 8)) == 4 * (128 + 128 + 32 + 12)
    assert analysis.activation_bytes(nn.Sequential(nn.Identity()), (2, 5)) == 4 * 10


def test_saved_for_backward_bytes_counts_what_autograd_keeps():
    x = torch.randn(1, 4, 16, 16, requires_grad=True)
    assert analysis.saved_for_backward_bytes(nn.ReLU(), x) == x.numel() * 4  # ReLU keeps its output
    with torch.no_grad():
        assert analysis.saved_for_backward_bytes(nn.ReLU(), x) == 0  # nothing without autograd
    conv = nn.Conv2d(4, 8, 3, bias=False)
    saved = analysis.saved_for_backward_bytes(conv, x)
    assert saved == x.numel() * 4 + conv.weight.numel() * 4  # the input and the weight
    deeper = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(8, 8, 3))
    assert analysis.saved_for_backward_bytes(deeper, x) > saved
