"""seglib.data.transforms: image and mask stay aligned through random flips and warps, masks keep
their labels, outputs are tensors of the right type, and nothing is printed on stderr."""

import os
import subprocess
import sys
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2

from seglib.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    eval_transform,
    train_transform,
)

SEEDS = range(40)


def pattern():
    """An asymmetric scene: an L pointing right plus a blob at the top right (label 1, red 255),
    a small class-7 patch (red 0). Mirror it or shift it and the red channel no longer matches."""
    h, w = 96, 128
    mask = np.zeros((h, w), np.uint8)
    mask[10:80, 12:36] = 1
    mask[56:80, 12:84] = 1
    mask[14:34, 92:120] = 1
    mask[40:48, 60:76] = 7
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = np.where(mask == 1, 255, 0)
    image[..., 1], image[..., 2] = 90, 40
    return image, mask


def agreement(out) -> float:
    """Fraction of non-void pixels where 'mask == 1' equals 'red channel is bright'."""
    red = denormalize(out["image"])[..., 0] > 0.5
    mask = out["mask"].numpy()
    valid = mask != 255
    return float(((mask == 1) == red)[valid].mean())


def test_train_transform_keeps_image_and_mask_aligned():
    image, mask = pattern()
    outs = [train_transform(64, seed=s)(image=image, mask=mask) for s in SEEDS]
    assert min(agreement(out) for out in outs) >= 0.95
    # The check has teeth: the augmentations really move things (warps pad with void) ...
    assert sum(bool((out["mask"] == 255).any()) for out in outs) >= 5
    assert len({out["mask"].numpy().tobytes() for out in outs}) >= 10
    # ... and a pipeline that flips only the image fails it.
    mirrored = np.ascontiguousarray(image[:, ::-1])
    misaligned = [train_transform(64, seed=s)(image=mirrored, mask=mask) for s in SEEDS]
    assert max(agreement(out) for out in misaligned) < 0.9


def test_outputs_are_normalised_float_images_and_int64_masks():
    image, mask = pattern()
    for transform in (train_transform(48, seed=0), eval_transform(48)):
        out = transform(image=image, mask=mask)
        assert tuple(out["image"].shape) == (3, 48, 48) and out["image"].dtype == torch.float32
        assert tuple(out["mask"].shape) == (48, 48) and out["mask"].dtype == torch.int64
        assert out["image"].mean().abs() < 3  # normalised, not 0..255


def test_masks_keep_their_labels_through_resize_and_warps():
    image, _ = pattern()
    mask = np.zeros((96, 128), np.uint8)
    mask[:, 40:] = 3
    mask[:, 80:] = 15
    mask[:, 78:82] = 255  # a void band between two classes
    allowed = {0, 3, 15, 255}
    for seed in SEEDS:
        out = train_transform(37, seed=seed)(image=image, mask=mask)
        assert set(out["mask"].unique().tolist()) <= allowed
    assert set(eval_transform(37)(image=image, mask=mask)["mask"].unique().tolist()) == allowed
    # The check has teeth: resizing the mask bilinearly invents labels between 3 and 15.
    blending = A.Compose([A.Resize(37, 37, mask_interpolation=cv2.INTER_LINEAR), ToTensorV2()])
    assert not set(blending(image=image, mask=mask)["mask"].unique().tolist()) <= allowed


def test_eval_transform_is_deterministic_and_denormalize_inverts_it():
    image, mask = pattern()
    first = eval_transform(64)(image=image, mask=mask)
    second = eval_transform(64)(image=image, mask=mask)
    assert torch.equal(first["image"], second["image"]) and torch.equal(first["mask"], second["mask"])
    same_size = eval_transform(96)  # no resampling: denormalize must give the image back
    wide = np.ascontiguousarray(image[:, :96])
    restored = denormalize(same_size(image=wide, mask=mask[:, :96])["image"])
    assert restored.shape == (96, 96, 3) and np.allclose(restored, wide / 255, atol=1e-5)
    batch = torch.stack([first["image"], second["image"]])
    assert denormalize(batch).shape == (2, 64, 64, 3)
    assert len(IMAGENET_MEAN) == len(IMAGENET_STD) == 3
    with pytest.raises(ValueError, match=r"expected a normalised image \(3, H, W\)"):
        denormalize(torch.zeros(64, 64, 3))


def test_seeds_repeat_augmentations_and_flags_switch_them_off():
    image, mask = pattern()
    a = train_transform(32, seed=7)(image=image, mask=mask)
    b = train_transform(32, seed=7)(image=image, mask=mask)
    assert torch.equal(a["image"], b["image"])
    torch.manual_seed(1)
    c = train_transform(32)  # seed drawn from torch: seglib.seed_everything makes it repeatable
    torch.manual_seed(1)
    assert train_transform(32).seed == c.seed
    plain = train_transform(32, hflip=0.0, affine=False, color=False, seed=3)
    assert torch.equal(plain(image=image, mask=mask)["image"], eval_transform(32)(image=image, mask=mask)["image"])


class Repeated(torch.utils.data.Dataset):
    def __init__(self, transform):
        self.image, self.mask = pattern()
        self.transform = transform

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.transform(image=self.image, mask=self.mask)["mask"]


def test_dataloader_workers_draw_different_augmentations():
    loader = torch.utils.data.DataLoader(Repeated(train_transform(32, seed=0)), batch_size=1, num_workers=2)
    masks = [m[0] for m in loader]  # items 0, 2, 4, 6 from worker 0; 1, 3, 5, 7 from worker 1
    assert not all(torch.equal(masks[i], masks[i + 1]) for i in range(0, 8, 2))


@pytest.mark.slow  # a fresh Python imports Albumentations in a subprocess (~7 s)
def test_import_and_use_print_nothing_on_stderr():
    code = (
        "import numpy as np\n"
        "from seglib.data.transforms import train_transform, eval_transform\n"
        "x = np.zeros((50, 70, 3), np.uint8); m = np.zeros((50, 70), np.uint8)\n"
        "train_transform(32, seed=0)(image=x, mask=m); eval_transform(32)(image=x, mask=m)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}  # seglib sets it
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        check=False,
        cwd=Path(__file__).parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
