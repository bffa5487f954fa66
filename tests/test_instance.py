"""Proposal-free instances against scipy/scikit-image, and the format conversions round-trip."""

import numpy as np
import pytest
from scipy import ndimage

from seglib import data, instance

THINGS = (1, 2, 3)


def disc(shape, centre, radius):
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def random_semantic(rng, shape=(40, 48), blobs=8):
    """Stuff classes 4-5 in two halves, with random thing blobs of classes 1-3 on top."""
    semantic = np.where(np.arange(shape[1]) < shape[1] // 2, 4, 5)[None].repeat(shape[0], 0)
    for _ in range(blobs):
        semantic[disc(shape, rng.integers(0, shape), rng.integers(2, 7))] = rng.choice(THINGS)
    return semantic


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("connectivity", [1, 2])
def test_connected_instances_match_ndimage_label(seed, connectivity):
    semantic = random_semantic(np.random.default_rng(seed))
    got = instance.connected_instances(semantic, THINGS, connectivity=connectivity)
    structure = ndimage.generate_binary_structure(2, connectivity)
    expected_count = 0
    for category in THINGS:
        labelled, count = ndimage.label(semantic == category, structure=structure)
        expected_count += count
        # Same partition of this class's pixels, ids shifted by the classes before it.
        ids = got[semantic == category]
        assert len(np.unique(ids)) == count
        pairs = np.unique(np.stack([labelled[semantic == category], ids]), axis=1)
        assert pairs.shape[1] == count  # one-to-one
    assert got.max() == expected_count
    assert np.array_equal(got > 0, np.isin(semantic, THINGS))


def test_connectivity_decides_diagonal_neighbours():
    semantic = np.zeros((4, 4), np.int64)
    semantic[1, 1] = semantic[2, 2] = 1
    assert instance.connected_instances(semantic, [1], connectivity=1).max() == 2
    assert instance.connected_instances(semantic, [1], connectivity=2).max() == 1


def test_watershed_splits_touching_discs_that_components_merge():
    shape = (40, 60)
    semantic = np.zeros(shape, np.int64)
    first, second = disc(shape, (20, 18), 10), disc(shape, (20, 38), 10)  # overlap in a narrow waist
    semantic[first | second] = 1
    assert instance.connected_instances(semantic, [1]).max() == 1
    split = instance.watershed_instances(semantic, [1])
    assert split.max() == 2
    assert split[20, 12] != split[20, 44]  # each centre region in its own basin
    assert (split[first & ~second] == split[20, 12]).mean() > 0.95
    assert (split[second & ~first] == split[20, 44]).mean() > 0.95


@pytest.mark.parametrize("seed", range(3))
def test_watershed_partitions_the_thing_pixels_within_components(seed):
    semantic = random_semantic(np.random.default_rng(seed))
    split = instance.watershed_instances(semantic, THINGS)
    components = instance.connected_instances(semantic, THINGS)
    assert np.array_equal(split > 0, components > 0)
    assert np.array_equal(np.unique(split), np.arange(split.max() + 1))  # ids 0..K, consecutive
    for k in range(1, split.max() + 1):
        assert len(np.unique(components[split == k])) == 1  # a basin never spans two components
    assert split.max() >= components.max()


def test_watershed_leaves_separate_round_things_alone():
    shape = (40, 60)
    semantic = np.full(shape, 4)
    semantic[disc(shape, (12, 12), 6)] = 1
    semantic[disc(shape, (28, 45), 8)] = 2
    assert np.array_equal(
        instance.watershed_instances(semantic, THINGS), instance.connected_instances(semantic, THINGS)
    )


def test_masks_and_instance_maps_round_trip_and_earlier_masks_win():
    rng = np.random.default_rng(0)
    instances = rng.integers(0, 6, size=(12, 10)).astype(np.int32)
    masks, ids = instance.instances_to_masks(instances)
    assert masks.shape == (5, 12, 10) and list(ids) == [1, 2, 3, 4, 5]
    assert np.array_equal(instance.masks_to_instances(masks), instances)
    overlapping = np.zeros((2, 3, 3), bool)
    overlapping[0, :2] = overlapping[1, 1:] = True
    assert instance.masks_to_instances(overlapping).tolist() == [[1, 1, 1], [1, 1, 1], [2, 2, 2]]


def test_to_panoptic_encodes_category_and_instance():
    semantic = np.array([[1, 1, 255], [2, 2, 0]])
    instances = np.array([[0, 0, 0], [1, 2, 0]])
    assert instance.to_panoptic(semantic, instances).tolist() == [[1000, 1000, -1], [2001, 2002, 0]]
    with pytest.raises(ValueError, match="raise label_divisor"):
        instance.to_panoptic(semantic, instances * 1000)


def test_masks_to_panoptic_and_back():
    semantic = np.array([[4, 4, 5, 5], [4, 4, 5, 255], [6, 6, 6, 6]])
    masks = np.zeros((2, 3, 4), bool)
    masks[0, 0, :2] = True
    masks[1, 1, 2:] = True
    panoptic = instance.masks_to_panoptic(masks, [3, 1], semantic, stuff_ids=(4, 5, 6, 7))
    assert panoptic.tolist() == [[3001, 3001, 5000, 5000], [4000, 4000, 1002, 1002], [6000] * 4]
    sem, inst = instance.panoptic_to_instances(panoptic, THINGS)
    assert sem.tolist() == [[3, 3, 5, 5], [4, 4, 1, 1], [6] * 4]
    assert inst.tolist() == [[2, 2, 0, 0], [0, 0, 1, 1], [0] * 4]  # renumbered in order of panoptic id
    assert np.array_equal(instance.to_panoptic(sem, inst), np.where(panoptic > 0, sem * 1000 + inst, -1))
    no_stuff = instance.masks_to_panoptic(masks, [3, 1])
    assert (no_stuff == -1).sum() == 12 - 4


def test_coco_round_trip_through_png_colours(tmp_path):
    scenes = data.PanopticScenes(data.make_panoptic_scenes(tmp_path, 5), "train")
    for item in scenes:
        truth = instance.to_panoptic(item["semantic"], item["instances"])
        from_coco = instance.coco_to_panoptic(item["segments"], item["segments_info"], THINGS)
        assert np.array_equal(from_coco, truth)
        segments, info = instance.panoptic_to_coco(truth)
        colours = data.id_to_rgb(segments)
        assert np.array_equal(instance.coco_to_panoptic(data.rgb_to_id(colours), info, THINGS), truth)
        by_id = {s["id"]: s for s in item["segments_info"]}
        assert sorted(s["area"] for s in info) == sorted(s["area"] for s in by_id.values())
        assert sorted(map(tuple, (s["bbox"] for s in info))) == sorted(map(tuple, (s["bbox"] for s in by_id.values())))


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"integer map \(H, W\)"):
        instance.connected_instances(np.zeros((2, 3, 4), np.int64), THINGS)
    with pytest.raises(ValueError, match="connectivity must be 1"):
        instance.connected_instances(np.zeros((3, 4), np.int64), THINGS, connectivity=3)
    with pytest.raises(ValueError, match="min_distance"):
        instance.watershed_instances(np.zeros((3, 4), np.int64), THINGS, min_distance=0)
    with pytest.raises(ValueError, match=r"masks must be \(K, H, W\)"):
        instance.masks_to_instances(np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="2 masks but 1 categories"):
        instance.masks_to_panoptic(np.zeros((2, 3, 4), bool), [1])
    with pytest.raises(ValueError, match="integer map"):
        instance.panoptic_to_coco(np.zeros((3, 4)))


def test_grouping_errors_counts_splits_and_merges_that_equal_counts_hide():
    truth = np.zeros((6, 12), int)
    truth[:, 0:4], truth[:, 4:8], truth[:, 8:12] = 1, 2, 3
    pred = np.zeros_like(truth)
    pred[:3, 0:4], pred[3:, 0:4] = 1, 2  # instance 1 cut in two
    pred[:, 4:12] = 3  # instances 2 and 3 merged
    assert instance.grouping_errors(pred, truth) == {"true": 3, "pred": 3, "split": 1, "merged": 1}
    assert instance.grouping_errors(truth, truth) == {"true": 3, "pred": 3, "split": 0, "merged": 0}
    with pytest.raises(ValueError, match="same shape"):
        instance.grouping_errors(pred[:, :5], truth)
    with pytest.raises(ValueError, match=">= 0"):
        instance.grouping_errors(-pred, truth)
