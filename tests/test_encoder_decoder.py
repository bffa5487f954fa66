"""Auto-encoder, SegNet, U-Net and the ResNet-18 U-Net: output sizes, size errors with the
padding that fixes them, gradients, parameter counts by formula, the valid-padding size
arithmetic, the two feature-extraction strategies and "auto" weights that never download."""

import itertools

import pytest
import torch
import torch.nn.functional as F
import torchvision

from seglib.analysis import conv_transpose_output_size, count_params
from seglib.models import resnet_unet
from seglib.models.autoencoder import ConvAutoencoder
from seglib.models.resnet_unet import ResNet18Encoder, ResNetUNet, cached_weights_path
from seglib.models.segnet import SegNet
from seglib.models.unet import UNet, center_crop


def conv(cin, cout, k=3, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def conv_bn(cin, cout, k=3):
    return conv(cin, cout, k, bias=False) + 2 * cout


@pytest.fixture(autouse=True)
def seeded():
    """Random weights, inputs and targets are the same in every run and test order."""
    torch.manual_seed(0)


def backward_ok(model, x, num_classes):
    """Every parameter receives a finite gradient. (Not "non-zero": a ReLU that happens to be
    dead for one random batch, e.g. in SE's small bottleneck, legitimately gives zero.)"""
    out = model(x)
    F.cross_entropy(out, torch.randint(0, num_classes, (x.shape[0], *out.shape[-2:]))).backward()
    missing = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())
    ]
    assert not missing, missing
    reached = sum(int(p.grad.abs().sum() > 0) for p in model.parameters() if p.requires_grad)
    assert reached >= 0.9 * sum(1 for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- auto-encoder
@pytest.mark.parametrize("decoder", ["interpolate", "transposed"])
@pytest.mark.parametrize("size", [(4, 4), (32, 32), (64, 48)])
def test_autoencoder_reconstructs_the_input_shape(decoder, size):
    model = ConvAutoencoder(in_channels=3, widths=(16, 8), decoder=decoder)
    x = torch.rand(2, 3, *size)
    assert model.encode(x).shape == (2, 8, size[0] // 4, size[1] // 4)
    out = model(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("decoder", ["interpolate", "transposed"])
def test_autoencoder_parameters_and_errors(decoder):
    model = ConvAutoencoder(in_channels=1, widths=(16, 4), decoder=decoder)
    # the slides' second version: 1→16, 16→4 down; 4→16, 16→1 up; 3×3 kernels with biases
    assert count_params(model) == conv(1, 16) + conv(16, 4) + conv(4, 16) + conv(16, 1)
    with pytest.raises(ValueError, match=r"divisible by 4, got 30×32. Pad to 32×32"):
        model(torch.rand(1, 1, 30, 32))
    out = model(torch.rand(2, 1, 16, 16))
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_slides_transposed_convolution_needs_output_padding():
    # ConvTranspose2d(16, 16, 3, stride=2, padding=1) as on the slide: n → 2n - 1
    assert conv_transpose_output_size(16, 3, 2, 1) == 31
    assert torch.nn.ConvTranspose2d(1, 1, 3, 2, 1)(torch.zeros(1, 1, 16, 16)).shape[-1] == 31
    assert conv_transpose_output_size(16, 3, 2, 1, output_padding=1) == 32


# --------------------------------------------------------------------------- SegNet
@pytest.mark.parametrize("size", [(8, 8), (32, 64), (48, 40)])
def test_segnet_output_shape(size):
    assert SegNet(5, 3, (4, 6, 8))(torch.randn(2, 3, *size)).shape == (2, 5, *size)


def test_segnet_parameters_errors_and_backward():
    widths, n = (4, 6, 8), 2
    model = SegNet(5, 2, widths, convs_per_stage=n)
    expected = conv_bn(2, 4) + conv_bn(4, 4) + conv_bn(4, 6) + conv_bn(6, 6) + conv_bn(6, 8) + conv_bn(8, 8)
    expected += conv_bn(8, 8) + conv_bn(8, 6) + conv_bn(6, 6) + conv_bn(6, 4) + conv_bn(4, 4) + conv_bn(4, 4)
    expected += conv(4, 5)  # the 3×3 classifier; pooling and unpooling have no parameters
    assert count_params(model) == expected
    with pytest.raises(ValueError, match=r"SegNet needs height and width divisible by 8, got 20×16. Pad to 24×16"):
        model(torch.randn(1, 2, 20, 16))
    backward_ok(model, torch.randn(2, 2, 16, 16), 5)


def test_segnet_unpools_to_the_argmax_positions():
    model = SegNet(2, 1, (1,), convs_per_stage=1).eval()
    x = torch.randn(1, 1, 8, 8)
    features = model.encoders[0](x)
    pooled, where = model.pool(features)
    sparse = model.unpool(pooled, where)
    assert (sparse != 0).sum() <= 16 and torch.equal(sparse.amax((-2, -1)), features.amax((-2, -1)))


# --------------------------------------------------------------------------- U-Net
def expected_unet_params(num_classes, in_channels, depth, w, upsampling="transposed", se=False):
    widths = [w * 2**i for i in range(depth + 1)]
    double = lambda a, b: conv_bn(a, b) + conv_bn(b, b)
    total = double(in_channels, widths[0]) + sum(double(a, b) for a, b in itertools.pairwise(widths))
    for i in range(depth):
        big, small = widths[i + 1], widths[i]
        total += conv(big, big // 2, 2) if upsampling == "transposed" else conv(big, big // 2, 1)
        total += double(big // 2 + small, small)
    if se:
        c, s = widths[-1], max(1, widths[-1] // 16)
        total += conv(c, s, 1) + conv(s, c, 1)
    return total + conv(widths[0], num_classes, 1)


@pytest.mark.parametrize(
    "depth,width,upsampling,se",
    [(1, 4, "transposed", False), (3, 4, "bilinear", False), (2, 8, "transposed", True), (4, 2, "bilinear", True)],
)
def test_unet_parameter_count_by_formula(depth, width, upsampling, se):
    model = UNet(3, 2, depth, width, upsampling=upsampling, se=se)
    assert count_params(model) == expected_unet_params(3, 2, depth, width, upsampling, se)


@pytest.mark.parametrize("upsampling", ["transposed", "bilinear"])
@pytest.mark.parametrize("size", [(16, 16), (32, 48), (64, 32)])
def test_unet_same_padding_keeps_the_size(upsampling, size):
    model = UNet(3, 1, depth=3, base_width=4, upsampling=upsampling, se=True)
    assert model(torch.randn(2, 1, *size)).shape == (2, 3, *size)


def test_unet_valid_padding_sizes():
    assert UNet.output_size(572, depth=4) == 388  # the paper's figure
    assert UNet.valid_input_size(572, depth=4) == 572 and UNet.valid_input_size(500, depth=4) == 508
    for depth, size in [(1, 20), (2, 44), (2, 92), (3, 124)]:
        assert UNet.valid_input_size(size, depth) == size
        model = UNet(2, 1, depth, base_width=2, padding="valid")
        out = model(torch.randn(1, 1, size, size))
        assert out.shape[-1] == UNet.output_size(size, depth), (depth, size)
    assert UNet(2, 1, 2, 2, padding="valid")(torch.randn(1, 1, 92, 60)).shape == (1, 2, 52, 20)
    with pytest.raises(ValueError, match="cannot take this size"):
        UNet.output_size(90, depth=2)


def test_unet_size_errors_suggest_the_padding():
    with pytest.raises(ValueError, match=r"divisible by 8, got 60×64. Pad to 64×64"):
        UNet(2, 1, depth=3, base_width=2)(torch.randn(1, 1, 60, 64))
    with pytest.raises(ValueError, match=r"n \+ 4 divisible by 4 and n ≥ 44, got 90×92. Pad to 92×92.*\(0, 0, 0, 2\)"):
        UNet(2, 1, depth=2, base_width=2, padding="valid")(torch.randn(1, 1, 90, 92))
    with pytest.raises(ValueError, match="padding must be one of"):
        UNet(padding="reflect")


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_unet_backward(padding):
    size = 32 if padding == "same" else 44
    backward_ok(UNet(3, 1, depth=2, base_width=4, padding=padding, se=True), torch.randn(2, 1, size, size), 3)


def test_center_crop():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 2)), torch.tensor([[[[14.0, 15.0], [20.0, 21.0]]]]))
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop(x, (8, 8))


# --------------------------------------------------------------------------- ResNet-18 U-Net
@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def refuse(*args, **kwargs):
        raise AssertionError("pretrained='auto' must never download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    return tmp_path


def test_resnet_unet_shapes_parameters_and_backward(empty_hub):
    model = ResNetUNet(4, decoder_channels=(16, 8, 8, 4, 4))
    assert model.weights_source.startswith("training from scratch")
    for size in [(32, 32), (64, 32)]:
        assert model(torch.randn(2, 3, *size)).shape == (2, 4, *size)
    resnet = torchvision.models.resnet18(weights=None)
    encoder = count_params(resnet) - (512 * 1000 + 1000)  # the fc head is replaced by nn.Identity
    decoder = 0
    for cin, skip, cout in zip((512, 16, 8, 8, 4), (256, 128, 64, 64, 0), (16, 8, 8, 4, 4), strict=True):
        decoder += conv_bn(cin + skip, cout) + conv_bn(cout, cout)
    assert count_params(model) == encoder + decoder + conv(4, 4)
    with pytest.raises(ValueError, match=r"divisible by 32, got 64×50. Pad to 64×64"):
        model(torch.randn(1, 3, 64, 50))
    backward_ok(model, torch.randn(2, 3, 32, 32), 4)


def test_identity_and_hooks_give_the_same_features(empty_hub):
    truncated, hooked = ResNet18Encoder("identity").eval(), ResNet18Encoder("hooks").eval()
    hooked.load_state_dict(truncated.state_dict())
    x = torch.randn(2, 3, 64, 32)
    a, b = truncated(x), hooked(x)
    assert {name: tuple(f.shape) for name, f in a.items()} == {
        "relu": (2, 64, 32, 16),
        "layer1": (2, 64, 16, 8),
        "layer2": (2, 128, 8, 4),
        "layer3": (2, 256, 4, 2),
        "layer4": (2, 512, 2, 1),
    }
    assert list(b) == list(a) and all(torch.equal(a[name], b[name]) for name in a)
    assert len(hooked(x)) == 5  # the hook store is emptied between calls


def test_auto_uses_cached_weights_only(empty_hub):
    cached = torchvision.models.resnet18(weights=None)
    path = cached_weights_path()
    assert path.is_relative_to(empty_hub)
    path.parent.mkdir(parents=True)
    torch.save(cached.state_dict(), path)
    encoder = ResNet18Encoder("identity", pretrained="auto")
    assert encoder.weights_source.startswith("ImageNet weights")
    torch.testing.assert_close(encoder.resnet.conv1.weight, cached.conv1.weight)
    with pytest.raises(ValueError, match="pretrained must be"):
        resnet_unet._resnet18("yes")
