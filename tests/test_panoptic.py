"""UPSNet-style panoptic fusion, mask pasting, the semantic head and the small Mask R-CNN."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import paste_masks_in_image

from seglib import train
from seglib.models.maskrcnn import build_maskrcnn, paint_detections, predict_instances, random_hflip
from seglib.models.panoptic import SemanticNet, paste_mask_logits, upsnet_fusion

STUFF, THINGS = (4, 5, 6, 7), (1, 2, 3)


def stuff_logits(h=16, w=20, fill=5):
    """Semantic logits over 8 channels where the left half is sky (4), the right grass (5)."""
    logits = torch.full((8, h, w), -5.0)
    logits[4, :, : w // 2] = fill
    logits[5, :, w // 2 :] = fill
    return logits


def test_paste_over_the_whole_image_is_bilinear_interpolation():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 7, generator=g)
    boxes = torch.tensor([[0.0, 0.0, 20.0, 16.0]]).repeat(3, 1)
    expected = F.interpolate(logits[:, None], size=(16, 20), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(paste_mask_logits(logits, boxes, (16, 20)), expected)


def test_paste_fills_outside_the_box_and_keeps_shape():
    logits = torch.full((2, 5, 5), 3.0)
    boxes = torch.tensor([[2.0, 4.0, 8.0, 10.0], [0.0, 0.0, 3.0, 3.0]])
    pasted = paste_mask_logits(logits, boxes, (12, 14), outside=-7.0)
    assert pasted.shape == (2, 12, 14)
    inside = torch.zeros(12, 14, dtype=torch.bool)
    inside[4:10, 2:8] = True  # pixel centres inside [2, 8) x [4, 10)
    assert (pasted[0][inside] == 3).all() and (pasted[0][~inside] == -7).all()
    assert (pasted[1] == 3).sum() == 9
    assert paste_mask_logits(torch.zeros(0, 5, 5), torch.zeros(0, 4), (12, 14)).shape == (0, 12, 14)


def test_without_instances_stuff_takes_every_pixel():
    panoptic = upsnet_fusion(
        stuff_logits(), torch.zeros(0, 7, 7), torch.zeros(0, 4), [], stuff_ids=STUFF, thing_ids=THINGS
    )
    assert panoptic.shape == (16, 20) and panoptic.dtype == torch.long
    assert (panoptic[:, :10] == 4000).all() and (panoptic[:, 10:] == 5000).all()


def test_a_dominant_instance_claims_exactly_its_box():
    box = torch.tensor([[3.0, 2.0, 9.0, 12.0]])
    panoptic, logits = upsnet_fusion(
        stuff_logits(), torch.full((1, 7, 7), 20.0), box, [2], stuff_ids=STUFF, thing_ids=THINGS, return_logits=True
    )
    assert logits.shape == (4 + 1 + 1, 16, 20)  # stuff, one instance, unknown
    claimed = panoptic == 2 * 1000 + 1
    expected = torch.zeros(16, 20, dtype=torch.bool)
    expected[2:12, 3:9] = True
    assert torch.equal(claimed, expected)
    assert (panoptic[~expected] // 1000 >= 4).all()  # the rest stays stuff


def test_a_weak_instance_loses_to_confident_stuff_and_overlaps_go_to_the_stronger():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 16.0], [5.0, 0.0, 15.0, 16.0]])
    weak = upsnet_fusion(
        stuff_logits(), torch.full((1, 7, 7), -20.0), boxes[:1], [1], stuff_ids=STUFF, thing_ids=THINGS
    )
    assert not (weak == 1001).any()
    masks = torch.stack([torch.full((7, 7), 20.0), torch.full((7, 7), 30.0)])
    both = upsnet_fusion(stuff_logits(), masks, boxes, [1, 3], stuff_ids=STUFF, thing_ids=THINGS)
    assert (both[:, :5] == 1001).all() and (both[:, 5:15] == 3002).all() and (both[:, 15:] == 5000).all()


def test_unknown_class_marks_things_no_instance_claims():
    logits = stuff_logits()
    logits[2, 4:8, 12:16] = 9.0  # the semantic head sees a box-class thing here ...
    fused = upsnet_fusion(logits, torch.zeros(0, 7, 7), torch.zeros(0, 4), [], stuff_ids=STUFF, thing_ids=THINGS)
    assert (fused[4:8, 12:16] == -1).all() and (fused != -1).sum() == 16 * 20 - 16  # ... no detection: void
    plain = upsnet_fusion(
        logits, torch.zeros(0, 7, 7), torch.zeros(0, 4), [], stuff_ids=STUFF, thing_ids=THINGS, unknown=False
    )
    assert (plain[4:8, 12:16] == 5000).all()  # without the unknown class the stuff underneath wins
    claimed = upsnet_fusion(
        logits,
        torch.full((1, 7, 7), 4.0),
        torch.tensor([[12.0, 4.0, 16.0, 8.0]]),
        [2],
        stuff_ids=STUFF,
        thing_ids=THINGS,
    )
    assert (claimed[4:8, 12:16] == 2001).all()  # an instance that claims it takes it


def test_fusion_rejects_bad_inputs():
    logits = stuff_logits()
    with pytest.raises(ValueError, match=r"must be \(C, H, W\)"):
        upsnet_fusion(logits[None], torch.zeros(0, 7, 7), torch.zeros(0, 4), [], stuff_ids=STUFF, thing_ids=THINGS)
    with pytest.raises(ValueError, match="must be thing ids"):
        upsnet_fusion(logits, torch.zeros(1, 7, 7), torch.zeros(1, 4), [5], stuff_ids=STUFF, thing_ids=THINGS)
    with pytest.raises(ValueError, match="no channel"):
        upsnet_fusion(logits, torch.zeros(0, 7, 7), torch.zeros(0, 4), [], stuff_ids=(4, 9), thing_ids=THINGS)
    with pytest.raises(ValueError, match="1 mask logits but 2 labels"):
        upsnet_fusion(logits, torch.zeros(1, 7, 7), torch.zeros(1, 4), [1, 2], stuff_ids=STUFF, thing_ids=THINGS)
    with pytest.raises(ValueError, match=r"boxes must be \(K, 4\)"):
        paste_mask_logits(torch.zeros(2, 7, 7), torch.zeros(1, 4), (8, 8))


def test_semantic_net_shapes_and_size_error():
    net = SemanticNet(8, width=8).eval()
    assert net(torch.rand(2, 3, 32, 48)).shape == (2, 8, 32, 48)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(1, 3, 30, 32))


def test_maskrcnn_trains_and_predict_instances_returns_the_logits_it_pasted():
    torch.manual_seed(0)
    model = build_maskrcnn(image_size=64)
    image = torch.rand(3, 64, 64)
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[0, 10:30, 20:40] = 1
    target = {"boxes": torch.tensor([[20.0, 10.0, 40.0, 30.0]]), "labels": torch.tensor([2]), "masks": mask}
    losses = model([image], [target])
    assert {"loss_mask", "loss_classifier", "loss_objectness"} <= set(losses)
    outputs = predict_instances(model, [image])
    out = outputs[0]
    assert model.training  # restored
    k = len(out["boxes"])
    assert k > 0 and out["mask_logits"].shape == (k, 28, 28)
    # torchvision's masks are exactly the sigmoid of these logits pasted into the boxes
    pasted = paste_masks_in_image(out["mask_logits"].sigmoid()[:, None], out["boxes"], (64, 64), padding=1)
    torch.testing.assert_close(pasted, out["masks"])
    with pytest.raises(ValueError, match="at least 2"):
        build_maskrcnn(num_classes=1)


def _one_box_item(seed: int):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(3, 64, 64, generator=g)
    mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
    mask[0, 10:30, 20:40] = 1
    return image, {"boxes": torch.tensor([[20.0, 10.0, 40.0, 30.0]]), "labels": torch.tensor([2]), "masks": mask}


def test_random_hflip_mirrors_boxes_with_their_masks():
    image, target = _one_box_item(0)
    flips = 0
    for seed in range(8):
        torch.manual_seed(seed)
        flipped_image, flipped = random_hflip(image, target)
        if not torch.equal(flipped_image, image):
            flips += 1
            torch.testing.assert_close(flipped_image, image.flip(-1))
            assert flipped["boxes"].tolist() == [[24.0, 10.0, 44.0, 30.0]]
            ys, xs = torch.nonzero(flipped["masks"][0], as_tuple=True)
            assert (xs.min().item(), xs.max().item() + 1) == (24, 44)  # the mask fills its mirrored box
    assert 0 < flips < 8


def test_paint_detections_keeps_confident_ones_and_puts_higher_scores_on_top():
    masks = torch.zeros(3, 1, 4, 6)
    masks[0, 0, :, :4] = 0.9  # score 0.8, class 1
    masks[1, 0, :, 2:] = 0.9  # score 0.6, class 2: under the first where they overlap
    masks[2, 0] = 0.9  # score 0.3: dropped
    output = {"scores": torch.tensor([0.8, 0.6, 0.3]), "labels": torch.tensor([1, 2, 3]), "masks": masks}
    painted = paint_detections(output)
    assert painted.tolist() == [[1, 1, 1, 1, 2, 2]] * 4
    empty = {"scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long), "masks": torch.zeros(0, 1, 4, 6)}
    assert (paint_detections(empty) == 0).all()


def test_fit_detector_resumes_exactly_and_reports_each_epoch(tmp_path):
    items = [_one_box_item(seed) for seed in range(4)]

    def run(epochs, checkpoint=None, resume=False, model=None):
        torch.manual_seed(0)
        model = model or build_maskrcnn(image_size=64, width=8, channels=16, representation_size=32, mask_channels=16)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        history = train.fit_detector(
            model,
            items,
            lambda m: {"miou": 0.5, "pixel_accuracy": 0.9},
            epochs=epochs,
            optimizer=optimizer,
            batch_size=2,
            augment=random_hflip,
            seed=3,
            device="cpu",
            checkpoint=checkpoint,
            resume=resume,
            progress=False,
        )
        return model, history

    whole, history = run(2)
    assert history["epoch"] == [1, 2] and history["val_miou"] == [0.5, 0.5]
    assert all(loss > 0 for loss in history["train_loss"])
    run(1, tmp_path / "run.pt")
    resumed, resumed_history = run(2, tmp_path / "run.pt", resume=True)
    assert resumed_history["train_loss"] == history["train_loss"]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(ValueError, match="empty"):
        train.fit_detector(whole, [], epochs=1, optimizer=torch.optim.SGD(whole.parameters(), lr=0.1))
