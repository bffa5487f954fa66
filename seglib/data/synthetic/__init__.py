"""Deterministic synthetic stand-ins for the course's datasets, written in the real formats.

Everything in the course runs offline, so each dataset has a generated twin that the real
dataset's reader also reads:

``make_synthetic_voc(root, n_images)`` — PASCAL VOC 2012 segmentation (lecture 001's lab).
    ``root/VOCdevkit/VOC2012/`` with ``JPEGImages/<id>.jpg`` (RGB, varied sizes),
    ``SegmentationClass/<id>.png`` (palette PNG: class indices 0..20, 255 = void),
    ``SegmentationObject/<id>.png`` (palette PNG: instance ids 1..K in drawing order,
    0 = background, 255 = the same void) and ``ImageSets/Segmentation/{train,val,trainval}.txt``.
    The 20 object classes keep VOC's names; each is a shape with a texture in a hue
    (``VOC_LOOKS``). Every hue is shared by four classes, every shape by two and every texture
    by four, so a pixel's colour does not name its class: the context around it must.
    Objects range from 8 px to most of the image, occlude each other, and sit on cluttered
    backgrounds; a 2-3 px void band runs along every object border, as in VOC.

``make_em_membranes(root, n_images=30)`` — the ISBI 2012 EM stack (lecture 003: k-means on
    neuronal membranes; Ciresan et al. 2012). ``root/isbi2012/`` with multi-page 8-bit TIFFs
    ``train-volume.tif``, ``train-labels.tif``, ``test-volume.tif`` and ``test-labels.tif``
    (n_images pages of size x size each). Labels are 255 inside cells and 0 on membranes, as in
    ISBI 2012. The real challenge withholds ``test-labels.tif``; the stand-in has it so that the
    notebooks can evaluate. Cells carry dark organelles as dark as membranes, and membranes are
    1-3 px and of varying darkness, so an intensity threshold does not recover them. Unlike
    ISBI's consecutive sections of one volume, the slices are independent of each other.

``make_panoptic_scenes(root, n_images)`` — stuff and things (lecture 002: stuff vs things,
    instance and panoptic segmentation, UPSNet). ``root/panoptic_scenes/`` in a COCO-panoptic
    layout: ``images/<id>.png`` (RGB; PNG rather than JPEG so that the thin boundaries between
    touching things are free of compression artefacts and decode identically everywhere),
    ``panoptic/<id>.png`` (RGB; segment id = R + 256 G + 256² B, 0 = void) and
    ``panoptic.json`` with ``categories`` [{id, name, isthing, color}], ``images`` [{id,
    file_name, height, width}], ``annotations`` [{image_id, file_name, segments_info: [{id,
    category_id, area, bbox: [x, y, w, h], iscrowd}]}] and the split lists ``train`` and
    ``val`` (image ids, 80/20). Category ids start at 1, as in COCO: things 1-3 (ball, box,
    bottle), stuff 4-7 (sky, grass, road, water). Stuff fills each scene in amorphous regions;
    1-8 things of varied sizes sit on it, several touching or slightly overlapping, so that a
    semantic mask plus connected components cannot separate them. A few small unlabelled blobs
    are void, as in COCO. ``segments_info`` lists stuff first, then things. Segment ids are
    ``1000 * category_id`` for stuff and ``1000 * category_id + k`` for the k-th thing of a
    category; readers must not rely on that (COCO's ids are arbitrary).

All three are deterministic: image ``i`` depends only on ``seed`` and ``i`` (a small dataset's
images are the first ones of a larger dataset's; only the split lists depend on ``n_images``),
and each takes under 20 s on a 2-core CPU at the sizes the notebooks use (1000 VOC images,
30 + 30 EM slices of 512 px, 300 scenes of 128 px). Each writes into a temporary sibling
folder and renames it into place, with a marker file (``.seglib-synthetic.json``) holding its
parameters: called again with the same parameters it returns the finished folder at once; with
other parameters it regenerates. Two processes generating the same dataset at once both end
with a complete one (the second to finish discards its copy). A folder without the marker (a
real dataset) is never touched. A generation killed halfway leaves a hidden
``.<name>.tmp-*`` folder that is safe to delete.
"""
from .em import make_em_membranes
from .panoptic import PANOPTIC_CATEGORIES, make_panoptic_scenes
from .voc import VOC_LOOKS, Look, make_synthetic_voc

__all__ = ["PANOPTIC_CATEGORIES", "VOC_LOOKS", "Look", "make_em_membranes", "make_panoptic_scenes", "make_synthetic_voc"]
