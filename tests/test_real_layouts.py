"""Real data as it is published: the ISBI 2012 challenge layout (TIFF stacks without test labels,
or PNG slices) and a VOC-format dataset that is not VOC (its own classes, colours and lists,
no instance masks, non-square frames). The fixtures are made from seglib's stand-ins and PIL,
so everything runs offline. Also: ``seglib.data`` is laid in floors with no import cycles.
"""

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import seglib.data as data
from seglib.data import choice, isbi, vocformat
from seglib.data.labels import save_label_png
from seglib.data.synthetic import make_em_membranes
from seglib.data.voc import VOCSegmentation


@pytest.fixture(autouse=True)
def data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "seglib-data"
    monkeypatch.setenv("SEGLIB_DATA", str(folder))
    monkeypatch.setenv("SEGLIB_DATASET", "auto")
    return folder


# --------------------------------------------------------------------------- ISBI 2012
N_SLICES = 11  # more than 10, so that "10.png" must sort after "9.png"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    return make_em_membranes(tmp_path_factory.mktemp("em"), N_SLICES, seed=3, size=64)


def real_isbi_layout(stand_in, folder):
    """The challenge's files as published: the labelled training stack and an unlabelled test volume."""
    folder.mkdir(parents=True)
    for name in ("train-volume.tif", "train-labels.tif", "test-volume.tif"):
        shutil.copy(stand_in / name, folder / name)
    return folder


def png_slices_layout(stand_in, folder):
    """The stack as PNG slices: train/images, train/labels, and test/*.png (no test labels)."""
    for split, subfolders in (("train", ("images", "labels")), ("test", (None,))):
        images, labels = data.read_isbi(stand_in, split)
        for sub, stack in zip(subfolders, (images, labels), strict=False):
            target = folder / split / sub if sub else folder / split
            target.mkdir(parents=True)
            for k, page in enumerate(stack):
                Image.fromarray(page).save(target / f"{k}.png")
    return folder


def test_the_real_challenge_layout_reads_with_no_test_labels(stand_in, tmp_path):
    real = real_isbi_layout(stand_in, tmp_path / "isbi2012")
    images, labels = data.read_isbi(tmp_path)  # the parent works too
    expected_images, expected_labels = data.read_isbi(stand_in)
    assert np.array_equal(images, expected_images) and np.array_equal(labels, expected_labels)
    test_images, test_labels = data.read_isbi(real, "test")
    assert test_images.shape == (N_SLICES, 64, 64) and test_labels is None
    (real / "test-volume.tif").unlink()  # a folder with the training files only
    with pytest.raises(FileNotFoundError, match=r"no test slices.*em_splits") as error:
        data.read_isbi(real, "test")
    assert "make_em_membranes" not in str(error.value)  # no advice to overwrite real data with a stand-in


def test_png_slices_read_like_the_tiff_stacks_in_numeric_order(stand_in, tmp_path):
    folder = png_slices_layout(stand_in, tmp_path / "slices")
    for split in ("train", "test"):
        images, labels = data.read_isbi(folder, split)
        expected_images, expected_labels = data.read_isbi(stand_in, split)
        assert np.array_equal(images, expected_images)  # 10.png after 9.png, not after 1.png
        assert np.array_equal(labels, expected_labels) if split == "train" else labels is None
    assert isbi.isbi_summary(folder) == (
        f"PNG slices; {N_SLICES} labelled training slices of 64×64, {N_SLICES} test slices without labels"
    )


def test_a_label_that_is_neither_membrane_nor_cell_names_its_file(stand_in, tmp_path):
    folder = png_slices_layout(stand_in, tmp_path / "slices")
    label = folder / "train" / "labels" / "4.png"
    page = np.array(Image.open(label))
    page[0, 0] = 128
    Image.fromarray(page).save(label)
    with pytest.raises(ValueError, match=r"labels/4\.png holds the label value 128.*0 on membranes and 255"):
        data.read_isbi(folder)


def test_held_out_slices_are_the_last_labelled_ones_every_time(stand_in, tmp_path):
    real = real_isbi_layout(stand_in, tmp_path / "isbi2012")
    images, labels = data.read_isbi(real)
    splits = data.em_splits(real, held_out=3)
    assert splits.held_out == (8, 9, 10)
    assert np.array_equal(splits.test_images, images[8:]) and np.array_equal(splits.test_labels, labels[8:])
    assert np.array_equal(splits.train_images, images[:8]) and np.array_equal(splits.train_labels, labels[:8])
    assert "last 3 of the 11 labelled training slices (indices 8–10)" in splits.description
    assert data.em_splits(real, held_out=3).held_out == splits.held_out  # deterministic
    for bad in (0, N_SLICES, True, 2.5):
        with pytest.raises(ValueError, match="held_out must be an int from 1 to 10"):
            data.em_splits(real, held_out=bad)


def test_em_root_finds_either_real_layout_and_says_what_it_holds(stand_in, data_folder, tmp_path):
    png_slices_layout(stand_in, data_folder / "isbi2012")
    chosen = data.em_root()
    assert chosen.kind == "isbi2012" and chosen.path == data_folder / "isbi2012"
    assert chosen.description.endswith(
        f"(PNG slices; {N_SLICES} labelled training slices of 64×64, {N_SLICES} test slices without labels)"
    )
    tiff = real_isbi_layout(stand_in, tmp_path / "elsewhere" / "isbi2012")
    given = data.em_root(str(tiff.parent))  # a notebook's DATASET may be a folder
    assert given.path == tiff and "TIFF stacks" in given.description
    with pytest.raises(FileNotFoundError, match=r"names the folder .* holds no ISBI 2012 training stack"):
        data.em_root(str(tmp_path))
    assert data.em_root("synthetic", n_images=2, size=64).kind == "synthetic"


# --------------------------------------------------------------------------- a VOC-format dataset that is not VOC
STREET_CLASSES = ("background", "road", "car", "sky")
STREET_COLORS = ((0, 0, 0), (128, 64, 128), (0, 0, 142), (70, 130, 180))
STREET_LISTS = {
    "train": ["seq1_000", "seq1_001", "seq1_002"],
    "val": ["seq2_000", "seq2_001"],
    "test": ["seq3_000", "seq3_001"],
}
H, W = 32, 48  # non-square frames


def make_street_dataset(root, labelmap=True):
    """A VOC-format street-scene dataset: 4 classes named in labelmap.txt, its own train/val/test
    lists that keep sequences apart, no SegmentationObject/. Class 3 (sky) fills the outer 8
    columns of every frame, so a centre crop removes it. Returns {id: mask}."""
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    masks = {}
    rng = np.random.default_rng(0)
    for ids in STREET_LISTS.values():
        for image_id in ids:
            mask = np.ones((H, W), np.uint8)  # road
            mask[8:20, 16:32] = 2  # a car
            mask[:, :8] = mask[:, -8:] = 3  # sky at both sides
            mask[7, 16:32] = 255  # void border
            image = (np.asarray(STREET_COLORS, np.uint8)[np.minimum(mask, 3)] + rng.integers(0, 20, (H, W, 3))).astype(
                np.uint8
            )
            Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
            save_label_png(root / "SegmentationClass" / f"{image_id}.png", mask)
            masks[image_id] = mask
    lists = root / "ImageSets" / "Segmentation"
    for name, ids in STREET_LISTS.items():
        (lists / f"{name}.txt").write_text("\n".join(ids) + "\n")
    (lists / "trainval.txt").write_text("\n".join(STREET_LISTS["train"] + STREET_LISTS["val"]) + "\n")
    if labelmap:
        lines = ["# label:color_rgb:parts:actions"]
        lines += [
            f"{name}:{','.join(map(str, rgb))}::" for name, rgb in zip(STREET_CLASSES, STREET_COLORS, strict=True)
        ]
        (root / "labelmap.txt").write_text("\n".join(lines) + "\n")
    return masks


@pytest.fixture
def street(tmp_path):
    root = tmp_path / "street"
    return root, make_street_dataset(root)


def test_classes_and_palette_come_from_the_dataset(street):
    root, masks = street
    dataset = VOCSegmentation(root, "train")
    assert dataset.classes == STREET_CLASSES and dataset.num_classes == 4 and dataset.class_source == "labelmap.txt"
    assert [tuple(c) for c in dataset.palette[:4]] == list(STREET_COLORS)
    image, mask = dataset[0]
    assert image.shape == (H, W, 3) and np.array_equal(mask, masks["seq1_000"])
    renamed = VOCSegmentation(root, "train", classes=["bg", "asphalt", "vehicle", "air"])
    assert renamed.classes == ("bg", "asphalt", "vehicle", "air") and renamed.class_source == "the classes argument"
    with pytest.raises(ValueError, match="num_classes=5 but labelmap.txt names 4 classes"):
        VOCSegmentation(root, "train", num_classes=5)


def test_its_own_lists_are_the_default_splits_and_a_test_list_is_read(street):
    root, _ = street
    for split, ids in STREET_LISTS.items():
        assert VOCSegmentation(root, split).ids == ids
    assert VOCSegmentation(root, "voc_test").ids == STREET_LISTS["test"]
    assert VOCSegmentation(root, "train").scheme == "lists"
    chosen = data.voc_root(str(root))
    assert chosen.kind == "voc-format" and chosen.num_classes == 4 and chosen.classes == STREET_CLASSES
    assert "4 classes (from labelmap.txt), its own train/val/test lists" in chosen.description


def test_lists_that_share_an_image_are_refused(street):
    root, _ = street
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("seq2_000\nseq1_002\n")
    with pytest.raises(ValueError, match=r"val\.txt and train\.txt .* share 1 id\(s\), e\.g\. seq1_002"):
        VOCSegmentation(root, "val")


def test_a_split_too_small_for_every_part_is_an_error(street):
    root, _ = street
    (root / "ImageSets" / "Segmentation" / "trainval.txt").write_text("seq1_000\nseq1_001\nseq2_000\n")
    with pytest.raises(ValueError, match="needs at least 4 ids; got 3, which would leave val or test empty"):
        VOCSegmentation(root, "val", split_scheme="course")
    (root / "ImageSets" / "Segmentation" / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"split list .*test\.txt is missing"):
        VOCSegmentation(root, "test")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"split list .*val\.txt is empty"):
        VOCSegmentation(root, "val")


def test_segmentation_object_is_optional(street):
    root, _ = street
    dataset = VOCSegmentation(root, "train")
    with pytest.raises(
        FileNotFoundError, match="has no SegmentationObject/ folder.*semantic segmentation does not need"
    ):
        dataset.instance_mask(0)


def test_non_square_sizes_stretch_or_crop(street):
    root, _ = street
    stretched = VOCSegmentation(root, "train", size=(16, 24))
    image, mask = stretched[0]
    assert image.shape == (16, 24, 3) and mask.shape == (16, 24)
    square = VOCSegmentation(root, "train", size=16)
    assert 3 in square[0][1]  # stretching keeps the sky at the sides
    cropped = VOCSegmentation(root, "train", size=16, fit="crop")
    image, mask = cropped[0]
    assert image.shape == (16, 16, 3) and 3 not in mask  # short side to 16 (48x32 -> 24x16), centre 16 columns
    assert (mask == 2).any() and (mask == 255).any()
    normalised = data.eval_transform((16, 24))(image=stretched[0][0], mask=stretched[0][1])
    assert tuple(normalised["image"].shape) == (3, 16, 24)


def test_a_mask_value_that_is_neither_a_class_nor_void_names_the_file_and_value(street):
    root, masks = street
    bad = masks["seq1_001"].copy()
    bad[0, 0] = 11  # e.g. a dataset whose own void value is 11
    save_label_png(root / "SegmentationClass" / "seq1_001.png", bad)
    dataset = VOCSegmentation(root, "train")
    with pytest.raises(
        ValueError,
        match=r"SegmentationClass/seq1_001\.png holds the label\(s\) \[11\], outside the 4 "
        r"classes \(0\.\.3\).*void_values=\(11,\)",
    ):
        dataset[1]
    with pytest.raises(ValueError, match=r"seq1_001\.png holds the label\(s\) \[11\]"):
        VOCSegmentation(root, "train", size=8)  # the cache is never built from it
    read_as_void = VOCSegmentation(root, "train", void_values=(11,))
    assert read_as_void[1][1][0, 0] == 255


def test_without_a_labelmap_classes_come_from_arguments_or_default_to_voc(tmp_path):
    root = tmp_path / "street"
    make_street_dataset(root, labelmap=False)
    assert VOCSegmentation(root, "train").num_classes == 21  # VOC's, and the error above names the count
    assert VOCSegmentation(root, "train", num_classes=4).classes == ("class 0", "class 1", "class 2", "class 3")
    (root / "labelmap.txt").write_text("road 128 64 128\n")
    with pytest.raises(ValueError, match=r"labelmap\.txt, line 1: 'road 128 64 128' is not 'name:R,G,B::'"):
        VOCSegmentation(root, "train")


def test_the_course_split_is_for_voc_2012_only(tmp_path):
    voc2012 = tmp_path / "VOCdevkit" / "VOC2012"
    (voc2012 / "ImageSets" / "Segmentation").mkdir(parents=True)
    ids = [f"{2007 + i % 6}_{i:06d}" for i in range(2913)]
    (voc2012 / "ImageSets" / "Segmentation" / "trainval.txt").write_text("\n".join(ids) + "\n")
    assert vocformat.is_voc2012(voc2012)
    assert [len(vocformat.split_ids(voc2012, s)) for s in ("train", "val", "test")] == [1456, 728, 729]
    (voc2012 / "ImageSets" / "Segmentation" / "trainval.txt").write_text("\n".join(ids[:-1]) + "\n")
    assert not vocformat.is_voc2012(voc2012)  # 2912 ids: another dataset, which uses its own lists


def test_split_tensors_is_the_first_images_as_tensors_plus_loaders(street):
    root, masks = street
    part = data.split_tensors(root, "train", 2, size=(16, 24))
    assert tuple(part.images.shape) == (2, 3, 16, 24) and part.images.dtype == torch.float32
    assert tuple(part.masks.shape) == (2, 16, 24) and part.masks.dtype == torch.int64
    assert tuple(part.rgb.shape) == (2, 3, 16, 24) and part.rgb.dtype == torch.uint8
    assert len(part) == 2 and part.num_classes == 4
    reference = VOCSegmentation(root, "train", transform=data.eval_transform((16, 24)), size=(16, 24)).tensors(2)
    assert torch.equal(part.images, reference[0]) and torch.equal(part.masks, reference[1])
    assert torch.equal(
        part.rgb.permute(0, 2, 3, 1)[1], torch.from_numpy(VOCSegmentation(root, "train", size=(16, 24))[1][0])
    )
    batches = list(part.loader(batch_size=1, shuffle=True, seed=0))
    assert len(batches) == 2 and [len(b) for b in batches] == [2, 2]
    assert [len(b) for b in part.loader(with_rgb=True)] == [3]
    assert len(data.split_tensors(root, "val", size=8)) == 2  # n=None: the whole split
    with pytest.raises(ValueError, match="n must be a positive int"):
        data.split_tensors(root, "train", 0, size=8)


# --------------------------------------------------------------------------- the package's floors
PACKAGE = Path(data.__file__).parent
FLOORS = {  # module -> floor; a module imports only modules on lower floors
    "labels": 0,
    "paths": 0,
    "vocformat": 1,
    "isbi": 1,
    "cache": 2,
    "panoptic": 2,
    "synthetic.drawing": 2.0,
    "synthetic.atomic": 2.0,
    "synthetic.voc": 2.1,
    "synthetic.em": 2.1,
    "synthetic.panoptic": 2.1,
    "synthetic": 2.2,
    "voc": 3,
    "transforms": 3,
    "choice": 4,
    "tensors": 4,
    "download": 5,
    "cli": 6,
    "__main__": 7,
    "": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(module it imports, whether at the top level) for every relative import inside seglib.data."""
    name = _module_name(path)
    package = name.split(".")[:-1] if path.name != "__init__.py" else name.split(".") if name else []
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            if node.level - 1 > len(package):
                continue  # above seglib.data (seglib._files, seglib._guards)
            target = ".".join(base + ([node.module] if node.module else []))
            yield target, id(node) in top


def test_seglib_data_is_laid_in_floors_without_cycles():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert {_module_name(p) for p in modules} == set(FLOORS), "every module of seglib.data has a floor"
    for path in modules:
        name = _module_name(path)
        for target, at_top in _imports(path):
            assert at_top, f"{name} imports {target} inside a function"
            assert FLOORS[target] < FLOORS[name], (
                f"{name} (floor {FLOORS[name]}) imports {target} (floor {FLOORS[target]})"
            )


def test_the_stable_names_are_importable_from_seglib_data():
    for name in (
        "VOCSegmentation",
        "make_synthetic_voc",
        "voc_root",
        "em_root",
        "download_voc",
        "read_isbi",
        "em_splits",
        "split_tensors",
        "PanopticScenes",
        "eval_transform",
        "train_transform",
        "VOC_CLASSES",
        "NUM_CLASSES",
        "IGNORE_INDEX",
        "VOC_PALETTE",
        "data_root",
        "synthetic_panoptic",
        "course_split",
    ):
        assert getattr(data, name) is not None
    assert set(data.__all__) <= set(dir(data)) | set(data._LAZY)
    assert choice.voc_root is data.voc_root
