"""Synthetic stand-in datasets: real formats, determinism, atomic writes, and the folder readers."""

import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from seglib.data import synthetic
from seglib.data.isbi import read_isbi
from seglib.data.labels import id_to_rgb, rgb_to_id, segment_box_and_area
from seglib.data.panoptic import PanopticScenes, maskrcnn_target, scene_tensors
from seglib.data.synthetic import (
    VOC_LOOKS,
    make_em_membranes,
    make_panoptic_scenes,
    make_synthetic_voc,
)
from seglib.data.labels import IGNORE_INDEX, NUM_CLASSES, VOC_CLASSES


def file_bytes(folder):
    """Every file under ``folder`` by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


# --------------------------------------------------------------------------- VOC
@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return make_synthetic_voc(tmp_path_factory.mktemp("voc"), 40, seed=1)


def voc_ids(voc, split="trainval"):
    return (voc / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


def read_voc(voc, image_id):
    image = Image.open(voc / "JPEGImages" / f"{image_id}.jpg")
    classes = Image.open(voc / "SegmentationClass" / f"{image_id}.png")
    objects = Image.open(voc / "SegmentationObject" / f"{image_id}.png")
    assert (image.mode, classes.mode, objects.mode) == ("RGB", "P", "P")
    return np.array(image), np.array(classes), np.array(objects)


def test_voc_files_and_image_sets_agree(voc):
    ids = voc_ids(voc)
    assert ids == sorted(ids) and len(ids) == 40 and ids[0] == "synth_000000"
    for sub, ext in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png"), ("SegmentationObject", ".png")):
        assert sorted(p.stem for p in (voc / sub).iterdir()) == ids
        assert {p.suffix for p in (voc / sub).iterdir()} == {ext}
    train, val = voc_ids(voc, "train"), voc_ids(voc, "val")
    assert len(train) == len(val) == 20
    assert sorted(train + val) == ids


def test_voc_masks_hold_voc_values(voc):
    for image_id in voc_ids(voc):
        image, classes, objects = read_voc(voc, image_id)
        assert image.shape[:2] == classes.shape == objects.shape
        assert set(np.unique(classes)) <= set(range(NUM_CLASSES)) | {IGNORE_INDEX}
        ids = sorted(set(np.unique(objects)) - {0, IGNORE_INDEX})
        assert ids == list(range(1, len(ids) + 1)) and 1 <= len(ids) <= 4  # 1..K, no gaps
        assert np.array_equal(classes == IGNORE_INDEX, objects == IGNORE_INDEX)
        assert np.array_equal(classes == 0, objects == 0)
        for k in ids:  # every instance has exactly one object class
            assert len(np.unique(classes[objects == k])) == 1


def test_voc_void_band_runs_along_every_border(voc):
    for image_id in voc_ids(voc):
        _, _, objects = read_voc(voc, image_id)
        for a, b in ((objects[:, :-1], objects[:, 1:]), (objects[:-1, :], objects[1:, :])):
            labelled = (a != IGNORE_INDEX) & (b != IGNORE_INDEX)
            assert not (labelled & (a != b)).any(), f"{image_id}: two regions touch without void between them"
        void = objects == IGNORE_INDEX
        assert void.any()
        deep = ndimage.binary_erosion(void, np.ones((5, 5)), border_value=0)  # > 2 px from a label
        assert deep.sum() <= 0.05 * void.sum(), f"{image_id}: the void band is too wide"


def test_voc_sizes_classes_and_object_sizes_vary(voc):
    shapes, classes_seen, extents, areas = set(), set(), [], []
    for image_id in voc_ids(voc):
        _, classes, objects = read_voc(voc, image_id)
        shapes.add(classes.shape)
        classes_seen |= set(np.unique(classes))
        for k in set(np.unique(objects)) - {0, IGNORE_INDEX}:
            rows, cols = np.nonzero(objects == k)
            extents.append(max(np.ptp(rows), np.ptp(cols)) + 1)
            areas.append(len(rows) / objects.size)
    assert all(96 <= h <= 160 and 96 <= w <= 160 for h, w in shapes)
    assert len({h for h, _ in shapes}) >= 10 and any(h != w for h, w in shapes)
    assert classes_seen == set(range(NUM_CLASSES)) | {IGNORE_INDEX}
    assert np.mean(np.array(extents) <= 12) >= 0.05  # objects of about 8 px are not rare ...
    assert max(areas) > 0.25  # ... nor are ones filling much of the image


def test_no_single_attribute_names_a_voc_class():
    looks = [VOC_LOOKS[name] for name in VOC_CLASSES[1:]]
    assert len(set(looks)) == 20
    for attribute, sharing in (("hue", 4), ("shape", 2), ("texture", 4)):
        values = [getattr(look, attribute) for look in looks]
        assert all(values.count(value) == sharing for value in values), f"a {attribute} names a class"
    assert len({(look.hue, look.shape) for look in looks}) == 20  # colour with shape does


def test_voc_is_deterministic_by_seed_and_a_prefix_of_larger_sets(tmp_path):
    first = file_bytes(make_synthetic_voc(tmp_path / "a", 4, seed=3))
    assert first == file_bytes(make_synthetic_voc(tmp_path / "b", 4, seed=3))
    other = file_bytes(make_synthetic_voc(tmp_path / "c", 4, seed=4))
    assert first["JPEGImages/synth_000000.jpg"] != other["JPEGImages/synth_000000.jpg"]
    larger = file_bytes(make_synthetic_voc(tmp_path / "d", 6, seed=3))
    images_and_masks = [name for name in first if name.endswith((".jpg", ".png"))]
    assert all(larger[name] == first[name] for name in images_and_masks)


def test_voc_bad_arguments_say_what_to_change(tmp_path):
    with pytest.raises(ValueError, match="n_images must be at least 1, got 0"):
        make_synthetic_voc(tmp_path, 0)
    with pytest.raises(TypeError, match="n_images must be an int, got 2.5"):
        make_synthetic_voc(tmp_path, 2.5)
    with pytest.raises(ValueError, match="min_size must be at least 32"):
        make_synthetic_voc(tmp_path, 2, min_size=8)
    with pytest.raises(ValueError, match="max_size must be at least 96, got 64; max_size must not be below"):
        make_synthetic_voc(tmp_path, 2, max_size=64)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        make_synthetic_voc(tmp_path, 2, seed=-1)
    with pytest.raises(ValueError, match="jpeg_quality must be at most 100"):
        make_synthetic_voc(tmp_path, 2, jpeg_quality=101)
    assert not any(tmp_path.iterdir())


# --------------------------------------------------------------------------- atomic writes
def test_same_parameters_reuse_the_folder_and_new_ones_regenerate(tmp_path, monkeypatch):
    voc = make_synthetic_voc(tmp_path, 2)
    (voc / "sentinel").write_text("kept while the parameters match")
    scene = synthetic.voc._voc_scene
    with monkeypatch.context() as patch:
        patch.setattr(synthetic.voc, "_voc_scene", None)  # reusing must not draw a single image
        assert make_synthetic_voc(tmp_path, 2) == voc and (voc / "sentinel").exists()
    assert synthetic.voc._voc_scene is scene
    assert make_synthetic_voc(tmp_path, 3) == voc and not (voc / "sentinel").exists()
    assert len(voc_ids(voc)) == 3
    assert json.loads((voc / ".seglib-synthetic.json").read_text())["n_images"] == 3
    assert siblings(voc) == ["VOC2012"]  # no temporary or stale copies left behind


def test_a_failed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic.voc, "_voc_scene", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_synthetic_voc(tmp_path, 2)
    assert list((tmp_path / "VOCdevkit").iterdir()) == []


def test_a_copy_finished_meanwhile_by_another_process_wins(tmp_path, monkeypatch):
    # While this call generates, "another process" (a nested call) finishes the same dataset.
    scene, nested = synthetic.voc._voc_scene, []

    def scene_racing_another_process(*args):
        if not nested:
            nested.append(True)
            theirs = make_synthetic_voc(tmp_path, 3)
            (theirs / "theirs").write_text("a reader may already use this copy")
            nested.append(file_bytes(theirs))
        return scene(*args)

    monkeypatch.setattr(synthetic.voc, "_voc_scene", scene_racing_another_process)
    voc = make_synthetic_voc(tmp_path, 3)
    assert file_bytes(voc) == nested[1]  # theirs was kept, ours discarded
    assert siblings(voc) == ["VOC2012"]


def test_two_threads_generating_at_once_both_get_a_complete_dataset(tmp_path):
    results = []

    def generate():
        results.append(make_panoptic_scenes(tmp_path, 6, size=64))

    threads = [threading.Thread(target=generate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert len(PanopticScenes(tmp_path, "train")) + len(PanopticScenes(tmp_path, "val")) == 6
    assert siblings(results[0]) == ["panoptic_scenes"]


def test_a_folder_not_written_by_the_generator_is_never_replaced(tmp_path):
    real = tmp_path / "VOCdevkit" / "VOC2012" / "JPEGImages"
    real.mkdir(parents=True)
    (real / "2007_000032.jpg").write_bytes(b"a real photo")
    with pytest.raises(FileExistsError, match="not written by seglib's generators"):
        make_synthetic_voc(tmp_path, 2)
    assert (real / "2007_000032.jpg").read_bytes() == b"a real photo"


# --------------------------------------------------------------------------- EM membranes
@pytest.fixture(scope="module")
def em(tmp_path_factory):
    return make_em_membranes(tmp_path_factory.mktemp("em"), n_images=2, size=128)


def test_em_stacks_follow_the_isbi_layout(em):
    assert sorted(p.name for p in em.iterdir() if not p.name.startswith(".")) == [
        "test-labels.tif",
        "test-volume.tif",
        "train-labels.tif",
        "train-volume.tif",
    ]
    for name in ("train-volume.tif", "train-labels.tif", "test-volume.tif", "test-labels.tif"):
        with Image.open(em / name) as tiff:
            assert (tiff.n_frames, tiff.size, tiff.mode) == (2, (128, 128), "L")
    for split in ("train", "test"):
        images, labels = read_isbi(em, split)
        assert images.shape == labels.shape == (2, 128, 128) and images.dtype == labels.dtype == np.uint8
        assert set(np.unique(labels)) == {0, 255}
    train, _ = read_isbi(em)
    assert not np.array_equal(train, read_isbi(em, "test")[0])


def test_em_membranes_are_thin_and_enclose_many_cells(em):
    _, labels = read_isbi(em.parent)  # the parent of isbi2012/ works too
    for label in labels:
        membrane = label == 0
        assert 0.04 < membrane.mean() < 0.3
        deep = ndimage.binary_erosion(membrane, np.ones((5, 5)), border_value=0)  # > 2 px from a cell
        assert deep.sum() <= 0.01 * membrane.sum()
        assert ndimage.label(label == 255)[1] >= 8


def otsu_threshold(image):
    p = np.bincount(image.ravel(), minlength=256) / image.size
    weight, mean = np.cumsum(p), np.cumsum(p * np.arange(256))
    between = (mean[-1] * weight - mean) ** 2 / np.maximum(weight * (1 - weight), 1e-12)
    return int(np.argmax(between))


def test_an_intensity_threshold_does_not_recover_the_membranes(tmp_path):
    (image,), (label,) = read_isbi(make_em_membranes(tmp_path, n_images=1, seed=5))
    membrane = label == 0
    assert image[membrane].mean() < image[~membrane].mean() - 30  # membranes are dark ...

    def iou(threshold):
        dark = image <= threshold
        return (dark & membrane).sum() / (dark | membrane).sum()

    assert iou(otsu_threshold(image)) < 0.45  # ... but so is much else
    assert max(iou(t) for t in range(256)) < 0.6
    dark = image <= np.median(image[membrane])  # as dark as a typical membrane pixel
    far_from_membrane = ~ndimage.binary_dilation(membrane, np.ones((5, 5)))
    assert (dark & far_from_membrane).sum() > 0.12 * dark.sum()  # organelles, not membrane


def test_em_is_deterministic_by_seed(tmp_path):
    first = make_em_membranes(tmp_path / "a", n_images=1, size=96)
    assert file_bytes(first) == file_bytes(make_em_membranes(tmp_path / "b", n_images=1, size=96))
    other = make_em_membranes(tmp_path / "c", n_images=1, seed=1, size=96)
    assert not np.array_equal(read_isbi(first)[0], read_isbi(other)[0])


def test_read_isbi_errors_name_the_files(tmp_path, em):
    with pytest.raises(
        FileNotFoundError,
        match=r"no ISBI 2012 training stack.*train-volume\.tif and train-labels\.tif"
        r".*train/images/ and train/labels/",
    ):
        read_isbi(tmp_path)
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        read_isbi(em, "val")
    (tmp_path / "train-volume.tif").write_bytes(b"not a tiff")
    (tmp_path / "train-labels.tif").write_bytes((em / "train-labels.tif").read_bytes())
    with pytest.raises(ValueError, match=r"cannot read .*train-volume\.tif"):
        read_isbi(tmp_path)
    real = tmp_path / "real"  # the real challenge ships no test labels
    real.mkdir()
    for name in ("train-volume.tif", "train-labels.tif", "test-volume.tif"):
        (real / name).write_bytes((em / name).read_bytes())
    images, labels = read_isbi(real, "test")
    assert images.shape == (2, 128, 128) and labels is None


def test_em_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="size must be at least 64, got 32"):
        make_em_membranes(tmp_path, size=32)
    with pytest.raises(ValueError, match="n_images must be at least 1"):
        make_em_membranes(tmp_path, n_images=0)


# --------------------------------------------------------------------------- panoptic scenes
@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return make_panoptic_scenes(tmp_path_factory.mktemp("panoptic"), 30, seed=2)


def test_segment_ids_round_trip_through_rgb():
    ids = np.random.default_rng(0).integers(0, 256**3, size=(7, 5))
    assert np.array_equal(rgb_to_id(id_to_rgb(ids)), ids)
    assert id_to_rgb(np.array([1000 * 3 + 2])).tolist() == [[186, 11, 0]]  # 3002 = 186 + 256 * 11
    with pytest.raises(ValueError, match=r"segment ids must lie in 0\.\.16777215"):
        id_to_rgb(np.array([256**3]))
    with pytest.raises(ValueError, match="expected uint8 colours"):
        rgb_to_id(np.zeros((4, 4), np.uint8))


def test_panoptic_json_matches_the_pngs(scenes):
    meta = json.loads((scenes / "panoptic.json").read_text())
    categories = {c["id"]: c for c in meta["categories"]}
    assert sorted(c["name"] for c in categories.values() if c["isthing"]) == ["ball", "bottle", "box"]
    assert sorted(meta["train"] + meta["val"]) == [image["id"] for image in meta["images"]] == list(range(30))
    assert len(meta["val"]) == 6
    for annotation in meta["annotations"]:
        segments = rgb_to_id(np.array(Image.open(scenes / "panoptic" / annotation["file_name"])))
        image = np.array(Image.open(scenes / "images" / annotation["file_name"]))
        assert image.shape == (128, 128, 3) and segments.shape == (128, 128)
        infos = annotation["segments_info"]
        assert sorted(set(np.unique(segments)) - {0}) == sorted(s["id"] for s in infos)
        for info in infos:
            rows, cols = np.nonzero(segments == info["id"])
            assert info["area"] == len(rows)
            assert info["bbox"] == [cols.min(), rows.min(), np.ptp(cols) + 1, np.ptp(rows) + 1]
            assert info["category_id"] in categories and info["iscrowd"] == 0
        things = [s for s in infos if categories[s["category_id"]]["isthing"]]
        assert 1 <= len(things) <= 8
        assert any(not categories[s["category_id"]]["isthing"] for s in infos)


def test_touching_things_defeat_connected_components(scenes):
    dataset = PanopticScenes(scenes, "train")
    merged, touching, areas = 0, [], []
    for item in dataset:
        semantic, instances = item["semantic"], item["instances"]
        components = sum(ndimage.label(semantic == c["id"])[1] for c in dataset.categories if c["isthing"])
        merged += components < instances.max()
        for k in range(1, instances.max() + 1):
            mask = instances == k
            border = ndimage.binary_dilation(mask) & ~mask
            touching.append(np.any((instances[border] > 0) & (semantic[border] == semantic[mask][0])))
            areas.append(mask.sum())
    assert merged >= 0.5 * len(dataset)  # connected components merge instances in most scenes
    assert np.mean(touching) >= 0.4  # many things touch another of their category
    assert min(areas) < 100 and max(areas) > 1500


def test_panoptic_items_are_consistent(scenes):
    dataset = PanopticScenes(scenes.parent, "val")
    assert len(dataset) == 6 and dataset.num_classes == 8
    for item in dataset:
        segments, semantic, instances = item["segments"], item["semantic"], item["instances"]
        assert item["image"].dtype == np.uint8 and item["image"].shape == (128, 128, 3)
        assert np.array_equal(semantic == IGNORE_INDEX, segments == 0)
        assert np.array_equal(semantic[segments > 0], segments[segments > 0] // 1000)
        things = [s for s in item["segments_info"] if s["category_id"] <= 3]
        assert instances.max() == len(things)
        for k, info in enumerate(things, start=1):
            assert np.array_equal(instances == k, segments == info["id"])


def test_maskrcnn_targets_match_the_annotation(scenes):
    item = PanopticScenes(scenes, "train")[0]
    target = maskrcnn_target(item)
    things = [s for s in item["segments_info"] if s["category_id"] <= 3]
    k = len(things)
    assert target["boxes"].shape == (k, 4) and target["boxes"].dtype == torch.float32
    assert target["labels"].tolist() == [s["category_id"] for s in things]
    assert target["masks"].shape == (k, 128, 128) and target["masks"].dtype == torch.uint8
    assert target["masks"].sum((1, 2)).tolist() == [s["area"] for s in things]
    assert target["boxes"].tolist() == [[x, y, x + w, y + h] for x, y, w, h in (s["bbox"] for s in things)]
    empty = maskrcnn_target({"instances": np.zeros((4, 4), np.int32), "semantic": np.zeros((4, 4), np.uint8)})
    assert empty["boxes"].shape == (0, 4) and empty["masks"].shape == (0, 4, 4)


def test_segment_box_and_area_is_the_tight_coco_box():
    mask = np.zeros((6, 7), bool)
    mask[1:4, 2:6] = True
    mask[4, 2] = True  # an L: the box covers rows 1..4 and columns 2..5
    assert segment_box_and_area(mask) == ([2, 1, 4, 4], 13)
    assert segment_box_and_area(torch.from_numpy(mask)) == ([2, 1, 4, 4], 13)
    assert segment_box_and_area(np.eye(3, dtype=bool)[::-1]) == ([0, 0, 3, 3], 3)
    with pytest.raises(ValueError, match="mask is empty"):
        segment_box_and_area(np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match=r"must be \(H, W\)"):
        segment_box_and_area(np.ones((2, 3, 3), bool))


def test_scene_tensors_are_float_images_and_semantic_labels(scenes):
    dataset = PanopticScenes(scenes, "train")
    items = [dataset[0], dataset[1]]
    images, labels = scene_tensors(items)
    assert images.shape == (2, 3, 128, 128) and images.dtype == torch.float32
    assert labels.shape == (2, 128, 128) and labels.dtype == torch.int64
    assert torch.equal(images[1], torch.from_numpy(items[1]["image"]).permute(2, 0, 1) / 255)
    assert torch.equal(labels[0], torch.from_numpy(items[0]["semantic"]).long())
    assert int(labels.max()) == IGNORE_INDEX and float(images.max()) <= 1.0
    with pytest.raises(ValueError, match=r"RGB uint8 array \(H, W, 3\)"):
        scene_tensors([{**items[0], "image": items[0]["image"].astype(np.float32)}])
    with pytest.raises(ValueError, match="at least one"):
        scene_tensors([])


def test_panoptic_scenes_are_deterministic_by_seed(tmp_path):
    first = file_bytes(make_panoptic_scenes(tmp_path / "a", 3, size=64))
    assert first == file_bytes(make_panoptic_scenes(tmp_path / "b", 3, size=64))
    other = file_bytes(make_panoptic_scenes(tmp_path / "c", 3, seed=1, size=64))
    assert first["images/000000.png"] != other["images/000000.png"]


def test_panoptic_reader_errors(tmp_path, scenes):
    with pytest.raises(FileNotFoundError, match=r"panoptic\.json.*make_panoptic_scenes"):
        PanopticScenes(tmp_path)
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'val'\]"):
        PanopticScenes(scenes, "test")
    with pytest.raises(ValueError, match="size must be at least 48"):
        make_panoptic_scenes(tmp_path, 2, size=16)
    broken = tmp_path / "broken" / "panoptic_scenes"
    broken.mkdir(parents=True)
    (broken / "panoptic.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read .*panoptic\.json as JSON"):
        PanopticScenes(broken)
