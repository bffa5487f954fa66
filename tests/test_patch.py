"""seglib.models.patch: sliding window vs the convolutionalized network, pixel for pixel."""

import pytest
import torch
from torch import nn

from seglib.models.patch import PatchClassifier, convolutionalize, extract_patches, sliding_window


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


# (patch_size, constructor arguments): with and without pooling, odd and even patches,
# pooling sizes 2 and 3, several channels, one or no hidden layer.
CONFIGS = [
    (15, dict(in_channels=1, widths=(4, 6), kernel_sizes=3, pool=True, hidden=(8,))),
    (16, dict(in_channels=2, widths=(4, 6), kernel_sizes=(3, 2), pool=True, hidden=(8, 5))),
    (11, dict(in_channels=3, widths=(5, 5), kernel_sizes=3, pool=False, hidden=(7,))),
    (12, dict(in_channels=1, widths=(4,), kernel_sizes=4, pool=False, hidden=())),
    (20, dict(in_channels=1, widths=(3, 4, 5), kernel_sizes=(3, 2, 3), pool=(2, False, 3), hidden=(6,))),
    (21, dict(in_channels=2, widths=(4, 4, 4), kernel_sizes=(4, 3, 2), pool=2, hidden=(9,))),
]


def _model(patch_size, kwargs, seed):
    torch.manual_seed(seed)
    return PatchClassifier(num_classes=3, patch_size=patch_size, **kwargs).eval()


def _windows_at(model, x, step, pad):
    """The classifier applied to the windows at a step, directly (the definition)."""
    patches = (
        extract_patches(x, model.patch_size)
        if pad
        else (x.unfold(2, model.patch_size, 1).unfold(3, model.patch_size, 1).permute(0, 2, 3, 1, 4, 5))
    )
    patches = patches[:, ::step, ::step]
    n, h, w = patches.shape[:3]
    return model(patches.reshape(-1, *patches.shape[3:])).reshape(n, h, w, -1).permute(0, 3, 1, 2)


@pytest.mark.parametrize("index", range(len(CONFIGS)))
@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
def test_dense_equals_sliding_window(index, padding_mode):
    patch_size, kwargs = CONFIGS[index]
    model = _model(patch_size, kwargs, index)
    x = torch.randn(2, kwargs["in_channels"], 19, 14)
    expected = sliding_window(model, x, batch_size=50, padding_mode=padding_mode)
    dense = convolutionalize(model, padding_mode=padding_mode)
    with torch.no_grad():
        got = dense(x)
    assert got.shape == expected.shape == (2, 3, 19, 14)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # and the sliding window really is the classifier on the centred window
    patch = extract_patches(x, patch_size, padding_mode)[1, 7, 3]
    torch.testing.assert_close(expected[1, :, 7, 3], model(patch[None])[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("index", range(len(CONFIGS)))
@pytest.mark.parametrize("pad", [False, True])
def test_coarse_equals_classifier_on_strided_windows(index, pad):
    patch_size, kwargs = CONFIGS[index]
    model = _model(patch_size, kwargs, 100 + index)
    coarse = convolutionalize(model, dense=False, pad=pad)
    pools = kwargs["pool"] if isinstance(kwargs["pool"], tuple) else (kwargs["pool"],) * len(kwargs["widths"])
    expected_stride = 1
    for p in pools:
        expected_stride *= 2 if p is True else 1 if p is False else p
    assert coarse.stride == expected_stride
    x = torch.randn(1, kwargs["in_channels"], patch_size + 13, patch_size + 8)
    with torch.no_grad():
        got = coarse(x)
        expected = _windows_at(model, x, coarse.stride, pad)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_plain_sequential_with_strided_conv_avgpool_batchnorm_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 4, 3, stride=2), nn.BatchNorm2d(4), nn.LeakyReLU(0.1)),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 5, 2),
        nn.Tanh(),
        nn.MaxPool2d(3, stride=2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(5 * 1 * 1, 6),
        nn.ReLU(),
        nn.Linear(6, 2),
    )
    with torch.no_grad():
        model[0][1].running_mean.uniform_(-1, 1)
        model[0][1].running_var.uniform_(0.5, 2)
    model.eval()
    x = torch.randn(2, 2, 13, 16)
    expected = sliding_window(model, x, patch_size=17)
    with torch.no_grad():
        dense = convolutionalize(model, patch_size=17)(x)
        coarse_net = convolutionalize(model, dense=False, patch_size=17)
        big = torch.randn(1, 2, 40, 33)
        coarse = coarse_net(big)
    torch.testing.assert_close(dense, expected, atol=1e-5, rtol=1e-5)
    assert coarse_net.stride == 8
    windows = big.unfold(2, 17, 8).unfold(3, 17, 8).permute(0, 2, 3, 1, 4, 5)
    direct = model(windows.reshape(-1, 2, 17, 17)).reshape(1, *windows.shape[1:3], 2).permute(0, 3, 1, 2)
    torch.testing.assert_close(coarse, direct, atol=1e-5, rtol=1e-5)


def test_unsupported_layers_are_refused_with_reasons():
    with pytest.raises(TypeError, match="padding=0"):
        convolutionalize(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 25, 2)), patch_size=5)
    with pytest.raises(TypeError, match="Flatten before"):
        convolutionalize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(3, 2)), patch_size=5)
    with pytest.raises(TypeError, match="Upsample"):
        convolutionalize(
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.Upsample(scale_factor=2), nn.Flatten(), nn.Linear(72, 2)), patch_size=5
        )
    with pytest.raises(ValueError, match="patch_size=P"):
        convolutionalize(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 2)))
    with pytest.raises(ValueError, match="already fully convolutional"):
        convolutionalize(nn.Sequential(nn.Conv2d(1, 2, 3)), patch_size=5)
    with pytest.raises(TypeError, match="InstanceNorm2d.*whole map"):
        convolutionalize(
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2), nn.Flatten(), nn.Linear(18, 2)), patch_size=5
        )
    with pytest.raises(TypeError, match="dim=1"):
        convolutionalize(
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 2), nn.Softmax(-1)), patch_size=5
        )


def test_every_shared_pointwise_activation_converts():
    """convolutionalize and analysis.receptive_field read one list of pointwise layers
    (seglib._torch.POINTWISE_LAYERS); the activations only one of them used to know convert too."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.PReLU(3),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 2),
        nn.Softplus(),
        nn.Mish(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5),
        nn.Hardswish(),
        nn.Linear(5, 3),
        nn.LogSoftmax(dim=1),
    ).eval()
    x = torch.randn(1, 2, 9, 10)
    with torch.no_grad():
        torch.testing.assert_close(
            convolutionalize(model, patch_size=8)(x), sliding_window(model, x, patch_size=8), atol=1e-5, rtol=1e-5
        )


def test_patch_classifier_checks_its_input_and_size():
    model = PatchClassifier(num_classes=2, in_channels=1, patch_size=20, widths=(4, 4), kernel_sizes=3, hidden=(8,))
    assert model(torch.randn(3, 1, 20, 20)).shape == (3, 2)
    with pytest.raises(ValueError, match="sliding_window"):
        model(torch.randn(1, 1, 24, 24))
    with pytest.raises(ValueError, match="at least 20"):
        model(torch.randn(1, 1, 10, 10))
    with pytest.raises(ValueError, match="in_channels=3"):
        model(torch.randn(1, 3, 20, 20))
    with pytest.raises(ValueError, match=r"patch_size >= 10"):
        PatchClassifier(num_classes=2, in_channels=1, patch_size=8, widths=(4, 4), kernel_sizes=3, pool=True)
    with pytest.raises(ValueError, match="one per block"):
        PatchClassifier(widths=(4, 4), kernel_sizes=(3, 3, 3))
    with pytest.raises(TypeError, match="positional"):  # in_channels used to come first: no silent swap
        PatchClassifier(1, 2, 20)


def test_patches_are_a_centred_view_and_batching_does_not_matter():
    x = torch.arange(2 * 9 * 8, dtype=torch.float32).reshape(1, 2, 9, 8)
    for patch_size in (5, 6):
        patches = extract_patches(x, patch_size)
        assert patches.shape == (1, 9, 8, 2, patch_size, patch_size)
        c = patch_size // 2
        assert torch.equal(patches[0, :, :, :, c, c].permute(2, 0, 1), x[0])  # centre pixel
        assert patches.untyped_storage().nbytes() < 4 * x.numel() * 4  # a view, not P² copies
    model = PatchClassifier(num_classes=2, in_channels=2, patch_size=7, widths=(3,), kernel_sizes=3, hidden=()).train()
    a = sliding_window(model, x, batch_size=1)
    b = sliding_window(model, x[0], batch_size=10_000)
    torch.testing.assert_close(a, b)
    assert model.training  # its mode is restored
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        sliding_window(model, torch.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="padding_mode must be"):
        sliding_window(model, x, padding_mode="circular")
