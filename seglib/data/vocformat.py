"""The VOC format on disk: layout, classes, file reading and splits (lecture 001's lab).

A VOC-format dataset is a folder (PASCAL VOC 2012's is ``VOCdevkit/VOC2012``) holding

- ``JPEGImages/<id>.jpg``: the photos;
- ``SegmentationClass/<id>.png``: palette or grayscale PNGs, pixel value = class index, 255 = void;
- ``ImageSets/Segmentation/{train,val,trainval,test}.txt``: id lists (test.txt is optional);
- optionally ``SegmentationObject/<id>.png`` (instance masks) and ``labelmap.txt`` (class names
  and colours, one ``name:R,G,B::`` line per class, as CVAT's "Segmentation mask" export
  writes it; lines starting with # are comments).

The splits: real VOC 2012 (and seglib's stand-in for it) uses the course's 0.5/0.25/0.25 split
of trainval (1456/728/729), as in the lab; every other dataset uses its own lists, so that
images the dataset keeps apart (e.g. frames of one video sequence) stay apart.

Floor 1 of ``seglib.data``: it imports ``labels`` and ``paths`` only.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image

from .._guards import check_number
from .labels import IGNORE_INDEX, VOC_CLASS_INFO, ClassInfo, check_mask_labels
from .paths import DATA_ENV, SYNTHETIC_MARKER, data_root

# --- Layout --------------------------------------------------------------------------------------

REQUIRED_SUBDIRS = ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation")
OBJECT_SUBDIR = "SegmentationObject"  # instance masks: optional for semantic segmentation
VOC_SUBDIRS = REQUIRED_SUBDIRS[:2] + (OBJECT_SUBDIR,) + REQUIRED_SUBDIRS[2:]  # what real VOC 2012 holds
LISTS_DIR = "ImageSets/Segmentation"
TRAINVAL_LIST = f"{LISTS_DIR}/trainval.txt"
LABELMAP = "labelmap.txt"
VOC2012_TRAINVAL_SIZE = 2913  # ids in VOC 2012's ImageSets/Segmentation/trainval.txt
_VOC_ID = re.compile(r"\d{4}_\d{6}$")  # VOC's image ids: year_number


def missing_parts(folder: Path, *, require_objects: bool = False) -> list[str]:
    """What a VOC-format folder lacks for semantic segmentation: absent sub-folders and the
    trainval list (empty when complete). ``require_objects`` also asks for ``SegmentationObject/``."""
    folder = Path(folder)
    needed = VOC_SUBDIRS if require_objects else REQUIRED_SUBDIRS
    missing = [f"{name}/" for name in needed if not (folder / name).is_dir()]
    if f"{LISTS_DIR}/" not in missing and not (folder / TRAINVAL_LIST).is_file():
        missing.append(TRAINVAL_LIST)
    return missing


def find_voc2012(root) -> Path:
    """The dataset folder, given it, its ``VOCdevkit`` parent or the folder that holds
    ``VOCdevkit``. A missing or incomplete dataset raises an error that says what is missing."""
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
    """The error text for a missing VOC-format dataset: where it looked, what is missing, the
    layout, and how to get PASCAL VOC 2012 itself."""
    best = best or searched[-1]
    looked = ", ".join(str(p) for p in searched)
    lacking = "it does not exist" if not best.is_dir() else "it lacks " + ", ".join(missing)
    return (
        f"no VOC-format dataset found (looked in {looked}; {best}: {lacking}). A VOC-format dataset "
        f"holds the folders {', '.join(name + '/' for name in REQUIRED_SUBDIRS[:2])} and {LISTS_DIR}/ "
        f"(train.txt, val.txt, trainval.txt; test.txt optional); {OBJECT_SUBDIR}/ and {LABELMAP} are "
        "optional (see data/README.md). For PASCAL VOC 2012 itself, run "
        "`python -m seglib.data download` (about 2 GB; tries several mirrors, checks the MD5) "
        f"or call seglib.data.download_voc(); or copy an existing VOCdevkit folder into "
        f"{data_root()}, or set {DATA_ENV} to the folder that holds VOCdevkit."
    )


# --- Which dataset is it? ------------------------------------------------------------------------

def synthetic_params(folder: Path) -> dict | None:
    """The parameters seglib's generator recorded in ``folder`` (None for real data)."""
    try:
        return json.loads((Path(folder) / SYNTHETIC_MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_voc2012(folder: Path) -> bool:
    """Whether ``folder`` is PASCAL VOC 2012 (its trainval list: 2913 ids named year_number) or
    seglib's VOC stand-in, the datasets that use the course's split."""
    params = synthetic_params(folder)
    if params is not None:
        return params.get("generator") == "make_synthetic_voc"
    try:
        ids = read_list(Path(folder) / TRAINVAL_LIST)
    except (OSError, ValueError):
        return False
    return len(ids) == VOC2012_TRAINVAL_SIZE and all(_VOC_ID.match(i) for i in ids)


def class_info(folder: Path, classes=None, num_classes: int | None = None, colors=None) -> ClassInfo:
    """The dataset's classes: from the ``classes`` argument (names, with optional ``colors``),
    else ``labelmap.txt`` in the folder, else ``num_classes`` generic names, else VOC 2012's 21."""
    if classes is not None:
        info = ClassInfo.from_names(classes, colors)
    elif (Path(folder) / LABELMAP).is_file():
        info = read_labelmap(Path(folder) / LABELMAP)
    elif check_num_classes(num_classes) is not None:
        if num_classes == VOC_CLASS_INFO.num_classes:
            return VOC_CLASS_INFO
        info = ClassInfo.from_names([f"class {i}" for i in range(num_classes)], source="the num_classes argument")
    else:
        return VOC_CLASS_INFO
    if num_classes is not None and num_classes != info.num_classes:
        raise ValueError(f"num_classes={num_classes} but {info.source} names {info.num_classes} classes")
    return info


def check_num_classes(num_classes):
    """``num_classes`` itself when it is None or an int in 2..255, else an error saying so."""
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or not 2 <= num_classes <= IGNORE_INDEX):
        raise ValueError(f"num_classes must be an int in 2..{IGNORE_INDEX} (255 is void), got {num_classes!r}")
    return num_classes


def read_labelmap(path: Path) -> ClassInfo:
    """Class names and colours from a ``labelmap.txt`` (``name:R,G,B:parts:actions`` per line)."""
    names, colors = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        try:
            rgb = [int(v) for v in fields[1].split(",")]
            if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                raise ValueError
        except (IndexError, ValueError):
            raise ValueError(
                f"{path}, line {number}: {line!r} is not 'name:R,G,B::' (e.g. 'background:0,0,0::')"
            ) from None
        names.append(fields[0].strip())
        colors.append(rgb)
    if not names:
        raise ValueError(f"{path} names no classes; write one 'name:R,G,B::' line per class")
    return ClassInfo.from_names(names, colors, source=LABELMAP)


# --- Reading files -------------------------------------------------------------------------------

def open_image(path: Path, what: str, *, decode: bool = True) -> Image.Image:
    """Open (and decode) an image with PIL; a missing or unreadable file raises an error naming it."""
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
            return image
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{what} {path} is missing although the split lists it; the dataset is incomplete: "
            "extract the archive again (or delete and regenerate the synthetic set)"
        ) from None
    except Image.DecompressionBombError as err:  # a header claiming billions of pixels
        raise ValueError(f"refusing to decode {what} {path}: {err} Replace it with the original") from None
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for corrupt or truncated files
        raise ValueError(
            f"cannot read {what} {path}: {err}. The file is corrupt or not an image; replace it "
            "with the original (or regenerate the synthetic set)"
        ) from err


def read_image(path) -> np.ndarray:
    """A JPEG as an RGB uint8 array (H, W, 3)."""
    return np.asarray(open_image(Path(path), "image").convert("RGB"))


def open_mask(path: Path, image_size: tuple[int, int] | None, what: str = "mask") -> Image.Image:
    """A palette or grayscale PNG of class indices, checked to match ``image_size`` (W, H)."""
    mask = open_image(path, what)
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
    return np.asarray(open_mask(Path(path), image_size))


def source_files(folder: Path, ids) -> list[str]:
    """The JPEG and class-mask paths of every id, as strings (quick to ``os.stat`` by the thousand)."""
    root = str(folder)
    return [f"{root}/{sub}/{image_id}.{ext}" for image_id in ids
            for sub, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"))]


def pair_paths(folder: Path, image_id: str) -> tuple[Path, Path]:
    """The JPEG and class-mask PNG of one id."""
    image, mask = source_files(folder, [image_id])
    return Path(image), Path(mask)


def void_lookup(void_values=()) -> np.ndarray:
    """A (256,) uint8 table mapping each raw mask value to itself, and ``void_values`` to 255."""
    table = np.arange(256, dtype=np.uint8)
    for value in void_values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= 255:
            raise ValueError(f"void_values must be mask values in 0..255, got {value!r}")
        table[int(value)] = IGNORE_INDEX
    return table


def load_pair(folder: Path, image_id: str, num_classes: int, lookup: np.ndarray | None = None):
    """The PIL image (RGB) and class mask ('L') of one id, checked to be readable and of equal
    size; raw values are mapped through ``lookup`` (see ``void_lookup``), then every value must
    be a class 0..num_classes-1 or void (255), or the error names the file and the value."""
    image_path, mask_path = pair_paths(folder, image_id)
    image = open_image(image_path, "image").convert("RGB")
    raw = np.asarray(open_mask(mask_path, image.size))
    values = raw if lookup is None else lookup[raw]
    check_mask_labels(np.bincount(values.reshape(-1), minlength=256), num_classes, str(mask_path))
    return image, Image.fromarray(values, mode="L")


# --- Splits --------------------------------------------------------------------------------------

COURSE_SPLITS = ("train", "val", "test")
VOC_LISTS = {"voc_train": "train.txt", "voc_val": "val.txt", "voc_trainval": "trainval.txt", "voc_test": "test.txt"}
SPLITS = COURSE_SPLITS + tuple(VOC_LISTS)
SCHEMES = ("auto", "course", "lists")


def course_split(ids, seed: int = 0) -> dict[str, list[str]]:
    """Lecture 001's lab split of VOC's trainval ids: sort, permute with a seeded NumPy
    generator, then the first ⌊n/2⌋ are 'train', the next ⌊n/4⌋ 'val', the rest 'test'
    (2913 ids → 1456/728/729). Each list keeps the permuted order. Fewer than 4 ids would leave
    a part empty: that is an error, not an empty split."""
    ids = sorted(ids)
    if len(set(ids)) != len(ids):
        raise ValueError("the id list has duplicates; the course split would not be disjoint")
    if len(ids) < 4:
        raise ValueError(
            f"the course split cuts trainval 0.5/0.25/0.25, so it needs at least 4 ids; got {len(ids)}, "
            "which would leave val or test empty. Add images, or use the dataset's own lists (split_scheme='lists')"
        )
    seed = check_number(seed, "seed", minimum=0, integer=True, hint="the course split uses seed 0")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    n_train, n_val = len(ids) // 2, len(ids) // 4
    return {"train": shuffled[:n_train], "val": shuffled[n_train:n_train + n_val], "test": shuffled[n_train + n_val:]}


def read_list(path: Path) -> list[str]:
    """The ids of a split list, one per line (the first word of each non-empty line)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"split list {path} is missing; {LISTS_DIR}/ holds one id per line in train.txt, val.txt, "
            "trainval.txt and, optionally, test.txt"
        )
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split list {path} is empty; it should hold one image id per line")
    if len(set(ids)) != len(ids):
        raise ValueError(f"split list {path} names some ids twice; each image belongs in a list once")
    return ids


def split_scheme(folder, scheme: str = "auto") -> str:
    """'course' or 'lists': what ``scheme`` 'auto' means for this folder (``is_voc2012``)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split_scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    if scheme == "auto":
        return "course" if is_voc2012(folder) else "lists"
    return scheme


def split_ids(folder, split: str, seed: int = 0, scheme: str = "auto") -> list[str]:
    """The image ids of ``split``. 'train'/'val'/'test' follow ``split_scheme``: the course's
    split of trainval.txt (with ``seed``) or the dataset's own train/val/test lists, which must
    not share ids. 'voc_train'/'voc_val'/'voc_trainval'/'voc_test' are always the own lists."""
    folder = Path(folder)
    if split in VOC_LISTS:
        return read_list(folder / LISTS_DIR / VOC_LISTS[split])
    if split not in COURSE_SPLITS:
        raise ValueError(
            f"unknown split {split!r}; valid splits are {', '.join(SPLITS)} (train/val/test: the course's "
            "0.5/0.25/0.25 split of trainval for VOC 2012, the dataset's own lists otherwise; voc_*: its own lists)"
        )
    if split_scheme(folder, scheme) == "course":
        return course_split(read_list(folder / TRAINVAL_LIST), seed)[split]
    ids = read_list(folder / LISTS_DIR / f"{split}.txt")
    for other in COURSE_SPLITS:
        path = folder / LISTS_DIR / f"{other}.txt"
        if other != split and path.is_file():
            shared = set(ids) & set(read_list(path))
            if shared:
                raise ValueError(
                    f"{split}.txt and {other}.txt of {folder / LISTS_DIR} share {len(shared)} id(s), e.g. "
                    f"{sorted(shared)[0]}; a model would be scored on images it trained on. Fix the lists"
                )
    return ids
