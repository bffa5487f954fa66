"""FCN-32s/16s/8s: output sizes, size errors, gradients, parameter counts computed by formula,
and the bilinear-initialised transposed convolutions against F.interpolate."""

import pytest
import torch
import torch.nn.functional as F

from seglib.analysis import count_params
from seglib.models.fcn import FCN, FixedBilinearUpsample, VGGBackbone, learned_upsample

SMALL = {"widths": (4, 6, 8, 10, 12), "depths": (1, 1, 2, 2, 2), "head_width": 16}


def conv_bn(cin, cout, k=3):
    """Parameters of ConvBNReLU: a bias-free k×k convolution and a batch norm (weight + bias)."""
    return k * k * cin * cout + 2 * cout


def expected_fcn_params(num_classes, variant, in_channels, widths, depths, head_width):
    total, previous = 0, in_channels
    for width, depth in zip(widths, depths, strict=True):
        for _ in range(depth):
            total += conv_bn(previous, width)
            previous = width
    total += conv_bn(widths[-1], head_width, 3) + conv_bn(head_width, head_width, 1)  # fc6, fc7
    total += head_width * num_classes + num_classes  # score_pool5
    skips = {"32s": [], "16s": [widths[3]], "8s": [widths[3], widths[2]]}[variant]
    for channels in skips:  # a 1×1 scoring conv and a learned 2× upsampling (kernel 4, no bias)
        total += channels * num_classes + num_classes + num_classes * num_classes * 4 * 4
    return total  # the final fixed bilinear upsampling is a buffer


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("size", [(32, 32), (64, 96), (128, 64)])
def test_output_shape(variant, size):
    model = FCN(5, variant, **SMALL)
    assert model(torch.randn(2, 3, *size)).shape == (2, 5, *size)


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_parameter_count_by_formula(variant):
    model = FCN(7, variant, in_channels=2, **SMALL)
    assert count_params(model) == expected_fcn_params(7, variant, 2, **SMALL)


def test_size_and_shape_errors_say_what_to_do():
    model = FCN(3, "8s", **SMALL)
    with pytest.raises(ValueError, match=r"FCN-8s needs height and width divisible by 32, got 70×64. Pad to 96×64"):
        model(torch.randn(1, 3, 70, 64))
    with pytest.raises(ValueError, match=r"3 input channel\(s\), got 1"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="variant must be one of"):
        FCN(3, "4s")


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
def test_backward_reaches_every_parameter(variant):
    torch.manual_seed(0)  # the same weights, inputs and targets in every run and test order
    model = FCN(4, variant, **SMALL)
    for name in model.skips:  # zero-initialised skips pass no gradient to the pool3/pool4 features
        torch.nn.init.normal_(model.skips[name].weight)
    logits = model(torch.randn(2, 3, 32, 32))
    F.cross_entropy(logits, torch.randint(0, 4, (2, 32, 32))).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_skips_start_at_zero_and_final_upsampling_is_fixed():
    model = FCN(4, "8s", **SMALL)
    for skip in model.skips.values():
        assert skip.weight.abs().sum() == 0 and skip.bias.abs().sum() == 0
    assert not list(model.upsample.parameters()) and model.upsample.weight.shape == (4, 1, 16, 16)


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
def test_bilinear_transposed_convolution_is_bilinear_interpolation(factor):
    torch.manual_seed(factor)
    x = torch.randn(2, 3, 5, 6)
    reference = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    margin = factor  # zero padding changes only the outer factor/2 pixels (bilinear clamps there)
    inner = (..., slice(margin, -margin), slice(margin, -margin))
    for layer in (learned_upsample(3, factor), FixedBilinearUpsample(3, factor)):
        out = layer(x)
        assert out.shape == reference.shape
        torch.testing.assert_close(out[inner], reference[inner])
        assert not torch.allclose(out, reference)  # the border differs


def test_backbone_strides():
    features = VGGBackbone(3, (4, 4, 4, 4, 4), (1, 1, 1, 1, 1))(torch.randn(1, 3, 64, 32))
    assert {name: tuple(f.shape[-2:]) for name, f in features.items()} == {
        "pool1": (32, 16),
        "pool2": (16, 8),
        "pool3": (8, 4),
        "pool4": (4, 2),
        "pool5": (2, 1),
    }


@pytest.mark.parametrize("variant", ["32s", "16s", "8s"])
@pytest.mark.parametrize("patch_size", [32, 96])
def test_from_classifier_convolutionalizes_the_classifier(variant, patch_size):
    """FCN.from_classifier: on the classifier's own crop size, the FCN's stride-32 score at the
    centre of pool5 is the classifier's logits (fc6 becomes a (P/32)×(P/32) convolution, whose
    centre position sees the whole map); a wrong reshape of the weights fails this."""
    from seglib.models.fcn import VGGClassifier

    torch.manual_seed(0)
    classifier = VGGClassifier(5, 3, patch_size=patch_size, **SMALL)
    for module in classifier.modules():  # non-trivial batch-norm statistics
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 2)
            module.bias.data.uniform_(-1, 1)
    classifier.eval()
    model = FCN.from_classifier(classifier, variant).eval()
    x = torch.randn(3, 3, patch_size, patch_size)
    centre = patch_size // 64
    with torch.no_grad():
        torch.testing.assert_close(model.coarse_scores(x)[:, :, centre, centre], classifier(x), atol=1e-5, rtol=1e-4)
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5, 64, 64)


def test_classifier_refuses_other_sizes():
    from seglib.models.fcn import VGGClassifier

    with pytest.raises(ValueError, match="multiple of 32"):
        VGGClassifier(patch_size=48)
    with pytest.raises(ValueError, match=r"takes 32×32 crops.*FCN.from_classifier"):
        VGGClassifier(patch_size=32, **SMALL)(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="odd"):
        FCN.from_classifier(VGGClassifier(patch_size=64, **SMALL))
