"""Small, deterministic datasets in the real COCO / ADE20K layouts
(``tools/make_toy_dataset.py`` is the command line).

Detection (COCO layout)::

    python tools/make_toy_dataset.py coco data/toy_coco
    data/toy_coco/{train2017,val2017}/*.jpg
    data/toy_coco/annotations/instances_{train2017,val2017}.json

Each image shows a few shapes (the classes) in random colours and sizes on a
cluttered background (gradients, noise, lines, blobs) with some overlap.

Segmentation (ADE20K layout, see ``--help`` of the ``ade20k`` command)::

    python tools/make_toy_dataset.py ade20k data/toy_ade20k
    data/toy_ade20k/images/{training,validation}/*.jpg
    data/toy_ade20k/annotations/{training,validation}/*.png

Label maps follow ADE20K: 0 marks unlabelled pixels, class ``k`` is stored
as ``k + 1`` (``reduce_zero_label=True`` maps it back).

The same arguments give identical files (with the same OpenCV); a dataset
with a matching ``toy_dataset.json`` stamp is left as it is.
"""
import json
import math
from pathlib import Path

import cv2
import numpy as np

DET_CLASSES = ('circle', 'square', 'triangle', 'cross')
SEG_CLASSES = ('sky', 'ground', 'disc', 'box', 'stripe')
JPEG_QUALITY = 92


def cluttered_background(rng: np.random.Generator, height: int,
                         width: int) -> np.ndarray:
    """A BGR uint8 background: gradient, noise, lines and faint blobs."""
    corners = rng.uniform(40, 215, size=(2, 2, 3))
    ys = np.linspace(0, 1, height)[:, None, None]
    xs = np.linspace(0, 1, width)[None, :, None]
    image = (corners[0, 0] * (1 - ys) * (1 - xs) + corners[0, 1] *
             (1 - ys) * xs + corners[1, 0] * ys * (1 - xs) +
             corners[1, 1] * ys * xs)
    image = image + rng.normal(0, 12, size=(height, width, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(4, 12)):
        p1 = tuple(int(v) for v in rng.integers(0, (width, height)))
        p2 = tuple(int(v) for v in rng.integers(0, (width, height)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(image, p1, p2, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(rng.integers(3, 8)):
        centre = tuple(int(v) for v in rng.integers(0, (width, height)))
        axes = tuple(int(v) for v in rng.integers(3, 14, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360,
                    colour, -1, cv2.LINE_AA)
    return image


def shape_polygon(kind: str, cx: float, cy: float, size: float,
                  angle: float) -> np.ndarray:
    """Outline of a shape as an ``(K, 2)`` float array of x, y points."""
    r = size / 2
    if kind == 'circle':
        t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif kind == 'square':
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * r * 0.8
    elif kind == 'triangle':
        t = np.array([-90, 30, 150]) * np.pi / 180
        pts = np.stack([np.cos(t), np.sin(t)], 1) * r
    elif kind == 'cross':
        a, b = 1.0, 0.33
        pts = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b],
                        [b, a], [-b, a], [-b, b], [-a, b], [-a, -b],
                        [-b, -b]]) * r
    else:
        raise ValueError(kind)
    rot = np.array([[math.cos(angle), -math.sin(angle)],
                    [math.sin(angle), math.cos(angle)]])
    return pts @ rot.T + np.array([cx, cy])


def vivid_colour(rng: np.random.Generator) -> tuple:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(150, 256),
                      rng.integers(120, 256)]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / max(union - inter, 1e-9)


def detection_image(rng: np.random.Generator):
    """One image and its objects ``(class_index, polygon, box_xyxy)``."""
    height, width = (int(v) for v in rng.integers(240, 400, 2))
    image = cluttered_background(rng, height, width)
    objects = []
    for _ in range(int(rng.integers(1, 6))):
        for _attempt in range(20):
            cls = int(rng.integers(len(DET_CLASSES)))
            size = float(rng.uniform(28, min(height, width) * 0.55))
            cx = float(rng.uniform(size / 2, width - size / 2))
            cy = float(rng.uniform(size / 2, height - size / 2))
            poly = shape_polygon(DET_CLASSES[cls], cx, cy, size,
                                 float(rng.uniform(0, 2 * np.pi)))
            x0, y0 = np.clip(poly.min(0), 0, (width, height))
            x1, y1 = np.clip(poly.max(0), 0, (width, height))
            box = (float(x0), float(y0), float(x1), float(y1))
            # Some overlap is wanted, but no object may hide another.
            if all(box_iou(box, other[2]) < 0.3 for other in objects):
                objects.append((cls, poly, box))
                break
    # Largest first, so a small object is never painted over.
    objects.sort(key=lambda o: -(o[2][2] - o[2][0]) * (o[2][3] - o[2][1]))
    for cls, poly, _ in objects:
        cv2.fillPoly(image, [np.round(poly).astype(np.int32)],
                     vivid_colour(rng), cv2.LINE_AA)
    return image, objects


def write_coco(out: Path, num_train: int, num_val: int, seed: int) -> dict:
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(DET_CLASSES)]
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, number, split_seed in (('train2017', num_train, seed),
                                      ('val2017', num_val, seed + 1)):
        rng = np.random.default_rng(split_seed)
        (out / split).mkdir(exist_ok=True)
        images, annotations = [], []
        for index in range(number):
            image, objects = detection_image(rng)
            name = f'{index:06d}.jpg'
            cv2.imwrite(str(out / split / name), image,
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            image_id = index + 1
            images.append(dict(id=image_id, file_name=name,
                               height=image.shape[0], width=image.shape[1]))
            for cls, poly, (x0, y0, x1, y1) in objects:
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id,
                    category_id=cls + 1, iscrowd=0,
                    bbox=[round(x0, 2), round(y0, 2), round(x1 - x0, 2),
                          round(y1 - y0, 2)],
                    area=round(float(cv2.contourArea(
                        poly.astype(np.float32))), 2),
                    segmentation=[[round(float(v), 2)
                                   for v in poly.reshape(-1)]]))
        coco = dict(info=dict(description='mobiledense toy detection set'),
                    images=images, annotations=annotations,
                    categories=categories, licenses=[])
        with open(out / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump(coco, f)
        counts[split] = dict(images=len(images),
                             objects=len(annotations))
    return counts


def segmentation_image(rng: np.random.Generator, height: int, width: int):
    """An image and its label map (0 = unlabelled, class k stored as k+1)."""
    image = cluttered_background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    horizon = int(rng.uniform(0.3, 0.6) * height)
    sky, ground = vivid_colour(rng), vivid_colour(rng)
    image[:horizon] = (0.6 * image[:horizon] + 0.4 * np.array(sky)).astype(
        np.uint8)
    image[horizon:] = (0.6 * image[horizon:] +
                       0.4 * np.array(ground)).astype(np.uint8)
    label[:horizon] = 1
    label[horizon:] = 2
    for _ in range(int(rng.integers(2, 6))):
        cls = int(rng.integers(2, len(SEG_CLASSES)))
        mask = np.zeros((height, width), np.uint8)
        size = float(rng.uniform(20, min(height, width) * 0.45))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if SEG_CLASSES[cls] == 'disc':
            cv2.circle(mask, (int(cx), int(cy)), int(size / 2), 1, -1)
        elif SEG_CLASSES[cls] == 'box':
            poly = shape_polygon('square', cx, cy, size,
                                 float(rng.uniform(0, np.pi)))
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        else:
            p1 = (int(cx), int(cy))
            p2 = (int(cx + rng.uniform(-1, 1) * size * 2),
                  int(cy + rng.uniform(-1, 1) * size * 2))
            cv2.line(mask, p1, p2, 1, int(rng.integers(6, 16)))
        image[mask > 0] = vivid_colour(rng)
        label[mask > 0] = cls + 1
    # Thin unlabelled seams around objects, as in ADE20K annotations.
    edges = cv2.morphologyEx(label, cv2.MORPH_GRADIENT, np.ones((3, 3)))
    label[(edges > 0) & (rng.random((height, width)) < 0.5)] = 0
    return image, label


def write_ade20k(out: Path, num_train: int, num_val: int, seed: int) -> dict:
    counts = {}
    for split, number, split_seed in (('training', num_train, seed),
                                      ('validation', num_val, seed + 1)):
        rng = np.random.default_rng(split_seed)
        (out / 'images' / split).mkdir(parents=True, exist_ok=True)
        (out / 'annotations' / split).mkdir(parents=True, exist_ok=True)
        for index in range(number):
            height, width = (int(v) for v in rng.integers(200, 360, 2))
            image, label = segmentation_image(rng, height, width)
            stem = f'toy_{split}_{index:06d}'
            cv2.imwrite(str(out / 'images' / split / f'{stem}.jpg'), image,
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            cv2.imwrite(str(out / 'annotations' / split / f'{stem}.png'),
                        label)
        counts[split] = dict(images=number)
    return counts


WRITERS = dict(coco=(write_coco, DET_CLASSES),
               ade20k=(write_ade20k, SEG_CLASSES))


def make(kind: str, out: Path, num_train: int, num_val: int,
         seed: int) -> dict:
    """Create the dataset unless an identical one is already there."""
    writer, classes = WRITERS[kind]
    stamp = dict(kind=kind, num_train=num_train, num_val=num_val, seed=seed,
                 classes=list(classes), version=1)
    stamp_file = out / 'toy_dataset.json'
    if stamp_file.is_file():
        existing = json.loads(stamp_file.read_text())
        if {k: existing.get(k) for k in stamp} == stamp:
            return existing
    out.mkdir(parents=True, exist_ok=True)
    stamp['counts'] = writer(out, num_train, num_val, seed)
    stamp_file.write_text(json.dumps(stamp, indent=1))
    return stamp


# COCO train2017 (instances_train2017.json): images, annotations, and the
# image sizes most of its files have.
COCO_TRAIN_IMAGES = 118287
COCO_TRAIN_ANNOTATIONS = 860001
COCO_SIZES = ((640, 480), (640, 427), (480, 640), (640, 426), (427, 640))


def write_coco_scale(out: Path, num_images: int = COCO_TRAIN_IMAGES,
                     num_annotations: int = COCO_TRAIN_ANNOTATIONS,
                     seed: int = 0) -> Path:
    """A COCO-sized annotation file and one real JPEG per listed image, for
    timing annotation checks at full scale.

    Every image of a size shares the bytes of one flat grey JPEG of that
    size: header reads cost what they cost for any JPEG, while writing
    118k files takes seconds.  Boxes and categories are random but valid.

    Returns:
        the path of ``annotations/instances_train2017.json``.
    """
    rng = np.random.default_rng(seed)
    folder = out / 'train2017'
    folder.mkdir(parents=True, exist_ok=True)
    encoded = {size: cv2.imencode('.jpg', np.full((size[1], size[0], 3), 128,
                                                  np.uint8))[1].tobytes()
               for size in COCO_SIZES}
    images = []
    for index, size_index in enumerate(rng.integers(len(COCO_SIZES),
                                                    size=num_images)):
        width, height = COCO_SIZES[size_index]
        name = f'{index + 1:012d}.jpg'
        (folder / name).write_bytes(encoded[width, height])
        images.append(dict(id=index + 1, file_name=name, width=width,
                           height=height))
    owners = rng.integers(num_images, size=num_annotations)
    corners = rng.uniform(0, 300, size=(num_annotations, 2)).round(2)
    sides = rng.uniform(1, 300, size=(num_annotations, 2)).round(2)
    categories = rng.integers(1, 81, size=num_annotations)
    annotations = [dict(id=i + 1, image_id=int(owner) + 1,
                        category_id=int(category),
                        bbox=[*map(float, corner), *map(float, side)],
                        area=float(side[0] * side[1]), iscrowd=0)
                   for i, (owner, corner, side, category) in enumerate(
                       zip(owners, corners, sides, categories))]
    path = out / 'annotations' / 'instances_train2017.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        images=images, annotations=annotations,
        categories=[dict(id=i, name=f'class{i}') for i in range(1, 81)])))
    return path
