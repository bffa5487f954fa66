"""seglib.data: the VOC loader, the course split, the dataset choice and the resized cache.

Everything runs on a tiny VOCdevkit written here with PIL (no network, no real VOC).
"""

import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seglib.data import cache, choice, download, paths, vocformat
from seglib.data.download import file_md5
from seglib.data.isbi import read_isbi
from seglib.data.labels import VOC_CLASSES, save_label_png
from seglib.data.transforms import eval_transform
from seglib.data.voc import VOCSegmentation
from seglib.data.vocformat import course_split

SIZES = [(40, 30), (52, 64), (33, 47), (64, 48), (45, 45), (30, 58)]  # (width, height)
IDS = [f"2007_{i:06d}" for i in range(len(SIZES))]


def make_tiny_voc(parent, sizes=SIZES, ids=IDS):
    """A VOCdevkit/VOC2012 under ``parent``: smooth JPEGs (little JPEG loss), palette masks with a void border,
    instance masks, and VOC's train/val/trainval lists. Returns {id: (image, mask)}."""
    voc2012 = parent / "VOCdevkit" / "VOC2012"
    for sub in vocformat.VOC_SUBDIRS:
        (voc2012 / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = {}
    for image_id, (w, h) in zip(ids, sizes, strict=True):
        yy, xx = np.mgrid[0:h, 0:w]
        base = rng.integers(0, 128, 3)
        image = (base + np.stack([2 * xx, 2 * yy, xx + yy], -1)).clip(0, 255).astype(np.uint8)  # smooth
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1 + len(written) % 20
        mask[h // 4, w // 4 : 3 * w // 4] = 255
        Image.fromarray(image).save(voc2012 / "JPEGImages" / f"{image_id}.jpg", quality=95)
        save_label_png(voc2012 / "SegmentationClass" / f"{image_id}.png", mask)
        save_label_png(voc2012 / "SegmentationObject" / f"{image_id}.png", (mask > 0).astype(np.uint8))
        written[image_id] = (image, mask)
    lists = voc2012 / "ImageSets" / "Segmentation"
    half = len(ids) // 2
    (lists / "train.txt").write_text("\n".join(ids[:half]) + "\n")
    (lists / "val.txt").write_text("\n".join(ids[half:]) + "\n")
    (lists / "trainval.txt").write_text("\n".join(ids) + "\n")
    return written


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    """Every test gets its own SEGLIB_DATA, so caches and generated data stay in tmp_path."""
    folder = tmp_path / "seglib-data"
    monkeypatch.setenv("SEGLIB_DATA", str(folder))
    return folder


@pytest.fixture
def tiny(tmp_path):
    parent = tmp_path / "datasets"
    written = make_tiny_voc(parent)
    return parent, written


def test_items_are_uint8_arrays_matching_the_files(tiny):
    parent, written = tiny
    ds = VOCSegmentation(parent, "voc_trainval")
    assert len(ds) == len(IDS) and ds.ids == IDS
    assert ds.classes == VOC_CLASSES and ds.num_classes == 21
    for i, image_id in enumerate(IDS):
        image, mask = ds[i]
        expected_image, expected_mask = written[image_id]
        assert image.dtype == np.uint8 and image.shape == expected_image.shape
        assert mask.dtype == np.uint8 and np.array_equal(mask, expected_mask)
        assert np.abs(image.astype(int) - expected_image).mean() < 3  # JPEG is lossy
    assert np.array_equal(ds.instance_mask(0), (written[IDS[0]][1] > 0).astype(np.uint8))


def test_root_may_be_the_voc2012_folder_its_vocdevkit_or_the_parent(tiny):
    parent, _ = tiny
    roots = [parent, parent / "VOCdevkit", parent / "VOCdevkit" / "VOC2012"]
    datasets = [VOCSegmentation(root, "voc_val") for root in roots]
    assert {ds.root for ds in datasets} == {(parent / "VOCdevkit" / "VOC2012").resolve()}
    assert all(ds.ids == IDS[3:] for ds in datasets)


def test_with_a_transform_items_are_float_and_int64_tensors(tiny):
    ds = VOCSegmentation(tiny[0], "voc_train", transform=eval_transform(32))
    image, mask = ds[1]
    assert tuple(image.shape) == (3, 32, 32) and str(image.dtype) == "torch.float32"
    assert tuple(mask.shape) == (32, 32) and str(mask.dtype) == "torch.int64"
    assert set(mask.unique().tolist()) <= {0, 2, 255}


def test_course_split_of_voc_trainval_is_1456_728_729():
    ids = [f"2008_{i:06d}" for i in range(2913)]
    split = course_split(ids)
    assert [len(split[k]) for k in ("train", "val", "test")] == [1456, 728, 729]
    parts = [set(split[k]) for k in ("train", "val", "test")]
    assert parts[0].isdisjoint(parts[1]) and parts[0].isdisjoint(parts[2]) and parts[1].isdisjoint(parts[2])
    assert set.union(*parts) == set(ids)
    assert course_split(list(reversed(ids))) == split  # sorted first: the file's order is irrelevant
    assert course_split(ids, seed=1)["train"] != split["train"]
    assert split["train"] != sorted(split["train"])  # permuted, not the first half of the list
    with pytest.raises(ValueError, match="duplicates"):
        course_split(["a", "a", "b"])


def test_dataset_splits_follow_the_course_split_and_vocs_lists(tiny):
    parent, _ = tiny
    expected = course_split(IDS)
    for split in ("train", "val", "test"):
        assert VOCSegmentation(parent, split, split_scheme="course").ids == expected[split]
    assert VOCSegmentation(parent, "voc_train").ids == IDS[:3]
    assert VOCSegmentation(parent, "voc_val").ids == IDS[3:]
    assert VOCSegmentation(parent, "train").ids == IDS[:3]  # not VOC 2012: its own lists by default
    assert (
        VOCSegmentation(parent, "train", split_seed=5, split_scheme="course").ids == course_split(IDS, seed=5)["train"]
    )


# --- The resized cache ---------------------------------------------------------------------------


def test_sized_dataset_reads_resized_arrays_from_the_cache(tiny, data_folder, monkeypatch):
    parent, written = tiny
    ds = VOCSegmentation(parent, "voc_trainval", size=16)
    image, mask = ds[2]
    assert image.shape == (16, 16, 3) and mask.shape == (16, 16) and image.dtype == mask.dtype == np.uint8
    source = Image.fromarray(written[IDS[2]][1], mode="L").resize((16, 16), Image.NEAREST)
    assert np.array_equal(mask, np.asarray(source))  # nearest: labels are never blended
    assert ds.instance_mask(2).shape == (16, 16)
    files = list((data_folder / "cache").glob("*.npz"))
    assert len(files) == 1

    # A hit: nothing is decoded again.
    monkeypatch.setattr(cache, "_build", lambda *a: pytest.fail("cache miss on unchanged data"))
    again = VOCSegmentation(parent, "voc_trainval", size=16)
    assert np.array_equal(again[2][0], image)


def test_cache_is_rebuilt_when_a_source_file_or_the_size_changes(tiny, data_folder):
    parent, _ = tiny
    voc2012 = parent / "VOCdevkit" / "VOC2012"
    images, masks = cache.resized_arrays(voc2012, IDS, 12)
    first = cache.cache_file(voc2012, IDS, 12)
    assert first.is_file() and images.shape == (6, 12, 12, 3) and masks.shape == (6, 12, 12)

    png = voc2012 / "SegmentationClass" / f"{IDS[0]}.png"
    save_label_png(png, np.full((30, 40), 7, np.uint8))  # same size as its image, new labels
    os.utime(png, ns=(png.stat().st_atime_ns, png.stat().st_mtime_ns + 10**9))
    second = cache.cache_file(voc2012, IDS, 12)
    assert second != first
    _, masks2 = cache.resized_arrays(voc2012, IDS, 12)
    assert (masks2[0] == 7).all() and not first.exists()  # rebuilt; the stale file is gone

    jpg = voc2012 / "JPEGImages" / f"{IDS[1]}.jpg"
    os.utime(jpg, ns=(jpg.stat().st_atime_ns, jpg.stat().st_mtime_ns + 10**9))
    assert cache.cache_file(voc2012, IDS, 12) != second
    cache.resized_arrays(voc2012, IDS, 12)

    assert cache.cache_file(voc2012, IDS, 24) != cache.cache_file(voc2012, IDS, 12)
    assert cache.cache_file(voc2012, IDS[:3], 12) != cache.cache_file(voc2012, IDS, 12)
    cache.resized_arrays(voc2012, IDS[:3], 12)
    cache.resized_arrays(voc2012, IDS, 24)
    assert cache.cache_file(voc2012, IDS, 12).exists()  # other ids or sizes are not "stale"
    with pytest.raises(ValueError, match="positive int"):
        cache.resized_arrays(voc2012, IDS, 0)


def test_unreadable_cache_file_is_rebuilt(tiny):
    voc2012 = tiny[0] / "VOCdevkit" / "VOC2012"
    images, _ = cache.resized_arrays(voc2012, IDS, 8)
    cache.cache_file(voc2012, IDS, 8).write_bytes(b"not an npz")
    assert np.array_equal(cache.resized_arrays(voc2012, IDS, 8)[0], images)


# --- Error messages ------------------------------------------------------------------------------


def test_missing_dataset_names_the_layout_the_path_and_the_download(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"(?s)no VOC-format dataset found.*does not exist.*"
        r"JPEGImages/, SegmentationClass/ and ImageSets/Segmentation/.*python -m seglib.data download",
    ):
        VOCSegmentation(tmp_path / "nowhere", "train")


def test_incomplete_dataset_says_what_is_missing(tiny):
    parent, _ = tiny
    (parent / "VOCdevkit" / "VOC2012" / "SegmentationClass").rename(parent / "elsewhere")
    with pytest.raises(FileNotFoundError, match="VOC2012: it lacks SegmentationClass/"):
        VOCSegmentation(parent, "train")


def test_missing_list_file_is_named(tiny):
    parent, _ = tiny
    (parent / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "train.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"split list .*train\.txt is missing"):
        VOCSegmentation(parent, "voc_train")
    assert len(VOCSegmentation(parent, "train", split_scheme="course")) == 3  # the course split needs only trainval.txt


def test_listed_file_that_is_absent_is_reported_at_construction(tiny):
    parent, _ = tiny
    (parent / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{IDS[4]}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=rf"1 file\(s\) listed by split 'voc_val' are missing.*{IDS[4]}\.jpg"):
        VOCSegmentation(parent, "voc_val")


def test_corrupt_jpeg_is_named(tiny):
    parent, _ = tiny
    (parent / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{IDS[1]}.jpg").write_bytes(b"\x00garbage" * 50)
    ds = VOCSegmentation(parent, "voc_train")
    with pytest.raises(ValueError, match=rf"cannot read image .*{IDS[1]}\.jpg.*corrupt"):
        ds[1]
    with pytest.raises(ValueError, match=rf"{IDS[1]}\.jpg"):
        VOCSegmentation(parent, "voc_train", size=8)  # building the cache reads it too


def test_truncated_png_is_named(tiny):
    parent, _ = tiny
    png = parent / "VOCdevkit" / "VOC2012" / "SegmentationClass" / f"{IDS[0]}.png"
    png.write_bytes(png.read_bytes()[:60])
    with pytest.raises(ValueError, match=rf"cannot read mask .*{IDS[0]}\.png"):
        VOCSegmentation(parent, "voc_train")[0]


def test_mask_of_the_wrong_size_or_mode_is_named(tiny):
    parent, _ = tiny
    folder = parent / "VOCdevkit" / "VOC2012" / "SegmentationClass"
    save_label_png(folder / f"{IDS[0]}.png", np.zeros((10, 10), np.uint8))
    Image.fromarray(np.zeros((64, 52, 3), np.uint8)).save(folder / f"{IDS[1]}.png")
    ds = VOCSegmentation(parent, "voc_train")
    with pytest.raises(ValueError, match=rf"mask .*{IDS[0]}\.png is 10x10 but its image is 40x30"):
        ds[0]
    with pytest.raises(ValueError, match=rf"mask .*{IDS[1]}\.png is a 'RGB' image.*encode_mask"):
        ds[1]


def test_unknown_split_lists_the_valid_ones(tiny):
    with pytest.raises(ValueError, match="unknown split 'training'; valid splits are train, val, test, voc_train"):
        VOCSegmentation(tiny[0], "training")


# --- Choosing the dataset: voc_root ----------------------------------------------------------------


@pytest.fixture
def fake_generator(monkeypatch):
    """Stand in for seglib.data.synthetic (written elsewhere) and count its calls."""
    calls = []

    def make_synthetic_voc(root, n_images, seed=0, **kwargs):
        calls.append((n_images, seed))
        make_tiny_voc(root, SIZES[:n_images], IDS[:n_images])
        return root / "VOCdevkit" / "VOC2012"

    monkeypatch.setattr(choice, "make_synthetic_voc", make_synthetic_voc)
    return calls


def test_voc_root_prefers_real_voc_when_present(data_folder, monkeypatch, fake_generator):
    monkeypatch.delenv("SEGLIB_DATASET")
    make_tiny_voc(data_folder)
    chosen = choice.voc_root()
    assert chosen.kind == "voc-format" and chosen.path == data_folder / "VOCdevkit" / "VOC2012"
    assert chosen.description.startswith("VOC-format dataset from ")  # not VOC 2012's 2913 ids: its own lists
    assert "21 classes (from PASCAL VOC 2012)" in chosen.description and chosen.num_classes == 21
    synthetic = choice.voc_root("synthetic", synthetic_images=4)
    assert synthetic.kind == "synthetic" and "chosen over the real VOC" in synthetic.description
    assert fake_generator == [(4, 0)]


def test_voc_root_falls_back_to_a_synthetic_set(data_folder, monkeypatch, fake_generator):
    monkeypatch.setenv("SEGLIB_DATASET", "auto")
    first = choice.voc_root(synthetic_images=5, seed=3)
    assert first.kind == "synthetic"
    assert first.path == data_folder / "synthetic" / "voc_n5_seed3" / "VOCdevkit" / "VOC2012"
    assert first.description.startswith("synthetic VOC-format stand-in: 5 images, seed 3 (real VOC not found at ")
    assert first.description.endswith("; see data/README.md)")
    assert len(VOCSegmentation(first.path, "voc_trainval")) == 5
    monkeypatch.setenv("SEGLIB_DATASET", "synthetic")
    assert choice.voc_root(synthetic_images=5, seed=3) == first  # same words whatever chose it
    assert fake_generator == [(5, 3), (5, 3)]  # reuse is the generator's job (tests/test_synthetic.py)


def test_voc_root_voc_without_the_data_says_how_to_get_it(data_folder):
    with pytest.raises(
        FileNotFoundError,
        match=r"(?s)'voc'.*no VOC-format dataset found.*VOCdevkit.*"
        r"python -m seglib.data download.*download_voc\(\).*SEGLIB_DATA",
    ):
        choice.voc_root("voc")


def test_unknown_dataset_choice_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SEGLIB_DATASET", "imagenet")
    with pytest.raises(
        ValueError,
        match=r"unknown dataset 'imagenet' \(from \$SEGLIB_DATASET\); valid choices are auto, voc, synthetic",
    ):
        choice.voc_root()


def test_data_root_follows_seglib_data(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLIB_DATA", str(tmp_path / "x"))
    assert paths.data_root() == tmp_path / "x"
    monkeypatch.delenv("SEGLIB_DATA")
    root = paths.data_root()
    assert (root / "README.md").is_file() or root == Path.home() / ".cache" / "seglib"


# --- download_voc end to end (a file:// mirror of a tiny archive) ---------------------------------


def test_download_voc_tries_mirrors_checks_md5_and_extracts(tmp_path):
    make_tiny_voc(tmp_path / "src")
    archive = tmp_path / "mirror" / download.VOC_ARCHIVE
    archive.parent.mkdir()
    with tarfile.open(archive, "w") as tf:
        tf.add(tmp_path / "src" / "VOCdevkit", arcname="VOCdevkit")
    mirrors = [(tmp_path / "gone.tar").as_uri(), archive.as_uri()]
    voc2012 = download.download_voc(tmp_path / "dl", mirrors=mirrors, md5=file_md5(archive), progress=False)
    assert voc2012 == tmp_path / "dl" / "VOCdevkit" / "VOC2012"
    assert len(VOCSegmentation(tmp_path / "dl", "voc_trainval")) == len(IDS)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["VOCdevkit"]  # archive removed
    # Present already: nothing is fetched (the mirrors are not even tried).
    assert download.download_voc(tmp_path / "dl", mirrors=[], progress=False) == voc2012


def test_with_the_real_synthetic_generator(tmp_path):
    synthetic = pytest.importorskip("seglib.data.synthetic")
    voc2012 = synthetic.make_synthetic_voc(tmp_path / "syn", 12, seed=0)
    ds = VOCSegmentation(voc2012, "train", size=32)
    assert len(ds) == 6 and ds.scheme == "course"  # the stand-in for VOC 2012 follows the course split
    image, mask = ds[0]
    assert image.shape == (32, 32, 3) and mask.shape == (32, 32)
    assert set(np.unique(mask)) <= set(range(21)) | {255}
    full = VOCSegmentation(voc2012.parent, "voc_trainval")
    assert full[0][0].shape[:2] == full[0][1].shape


def test_synthetic_panoptic_lives_under_data_root_by_size_and_seed(data_folder):
    from seglib.data.panoptic import PanopticScenes

    root = choice.synthetic_panoptic(5, seed=2)
    assert root == data_folder / "synthetic" / "panoptic_n5_seed2" / "panoptic_scenes"
    assert len(PanopticScenes(root, "train")) + len(PanopticScenes(root, "val")) == 5


# --- Choosing the EM stack: em_root ---------------------------------------------------------------


def test_em_root_uses_the_real_stack_when_present_else_the_stand_in(data_folder, monkeypatch):
    monkeypatch.setenv("SEGLIB_DATASET", "auto")
    stand_in = choice.em_root(n_images=2, seed=1, size=64)
    assert (
        stand_in.kind == "synthetic" and stand_in.path == data_folder / "synthetic" / "em_n2_seed1_size64" / "isbi2012"
    )
    assert "no train-volume.tif and train-labels.tif in" in stand_in.description
    images, labels = read_isbi(stand_in.path)
    assert images.shape == labels.shape == (2, 64, 64)
    real = data_folder / "isbi2012"
    real.mkdir()
    for name in ("train-volume.tif", "train-labels.tif", "test-volume.tif"):
        shutil.copy(stand_in.path / name, real / name)
    chosen = choice.em_root(n_images=2, seed=1, size=64)
    assert chosen.kind == "isbi2012" and chosen.path == real
    assert chosen.description == (
        "real ISBI 2012 EM stack from " + paths.display_path(real) + " (TIFF stacks; 2 "
        "labelled training slices of 64×64, 2 test slices without labels)"
    )
    forced = choice.em_root("synthetic", n_images=2, seed=1, size=64)
    assert forced.path == stand_in.path and "chosen by the dataset argument" in forced.description
    with pytest.raises(ValueError, match="unknown dataset 'isbi'.*or the path of a dataset folder"):
        choice.em_root("isbi")


def test_tensors_stacks_the_first_items(tiny):
    from torch.utils.data import DataLoader, Subset

    dataset = VOCSegmentation(tiny[0], "voc_trainval", transform=eval_transform(32), size=32)
    images, masks = dataset.tensors(2)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32
    assert masks.shape == (2, 32, 32) and masks.dtype == torch.int64
    reference = next(iter(DataLoader(Subset(dataset, range(2)), batch_size=2)))
    assert torch.equal(images, reference[0]) and torch.equal(masks, reference[1])
    assert dataset.tensors(10**6)[0].shape[0] == len(dataset)
    with pytest.raises(ValueError, match="needs a transform"):
        VOCSegmentation(tiny[0], "voc_trainval").tensors()
