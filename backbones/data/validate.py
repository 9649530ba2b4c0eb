"""Validation of annotation files before training or testing, from the
JSON and image headers (plus label maps for segmentation): what mmdet and
mmseg would drop or mishandle without a word.

COCO-style detection (``ann_file`` JSON):

* refused, they corrupt training or evaluation: duplicated image or
  annotation ids, annotations of images that are not listed, listed images
  whose file is missing, images whose size disagrees with the file;
* counted in one warning (refused with ``strict``), mmdet skips them
  anyway: boxes with non-positive width or height, annotations of unknown
  categories.

ADE20K-style segmentation (image and label map folders): refused, a label
map without an image or whose size differs from it, and label values that
are neither a class nor the ignore index.
"""
import inspect
import json
import os
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Sequence

from ..config.walk import coco_evaluators, dataset_class, datasets_of
from ..errors import DataError
from .checks import _joined

EXAMPLES = 3


# EXIF orientations that turn the stored image by 90 degrees
TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


def image_size(path: str):
    """``(width, height)`` as the loaders decode the file (OpenCV and mmcv
    apply its EXIF orientation), from the header (no decoding)."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112)  # Orientation tag
    except (OSError, ValueError):
        return None
    if orientation in TRANSPOSING_ORIENTATIONS:
        return height, width
    return width, height


class Findings:
    """Problems by kind, each with a count and a few examples."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.examples: Dict[str, List[str]] = defaultdict(list)

    def add(self, kind: str, example) -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(str(example))

    def line(self, kinds: Sequence[str]) -> str:
        return '; '.join(
            f'{self.counts[k]} {k} (e.g. {", ".join(self.examples[k])})'
            for k in kinds if self.counts[k])


def load_json(path: str):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise DataError(f'{path} is not valid JSON: {err}') from err


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_coco_layout(content, ann_file: str) -> Findings:
    """The COCO layout itself: an object with lists ``images``,
    ``annotations``, ``categories``; each image ``{id, file_name, width,
    height}``, each annotation an ``image_id``, ``category_id`` and a
    ``bbox`` of four numbers, each category an ``id`` and a ``name`` no
    other category has (mmdet maps class names to category ids: of two
    with one name, the second's objects would train as background).

    Raises:
        DataError: the file is not a COCO object at all (a results file,
            a list, a key of the wrong type).
    """
    if not isinstance(content, dict):
        kind = f'a list of {len(content)} entries' if isinstance(
            content, list) else f'a JSON {type(content).__name__}'
        raise DataError(f'{ann_file} is {kind}, not a COCO annotation '
                        f'object with "images", "annotations" and '
                        f'"categories" (a results file?)')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(content.get(key, []), list):
            raise DataError(f'{ann_file}: "{key}" is a '
                            f'{type(content[key]).__name__}, not a list')
    found = Findings()
    for index, image in enumerate(content.get('images', [])):
        if not (isinstance(image, dict) and isinstance(image.get('id'), int)
                and isinstance(image.get('file_name'), str) and all(
                    isinstance(image.get(k), int) and image[k] > 0
                    for k in ('width', 'height'))):
            found.add('image entries without an int id, a file_name and '
                      'positive width and height', f'images[{index}]')
    for index, ann in enumerate(content.get('annotations', [])):
        bbox = ann.get('bbox') if isinstance(ann, dict) else None
        if not (isinstance(bbox, list) and len(bbox) == 4 and
                all(_number(v) for v in bbox)):
            found.add('annotations without a bbox of 4 numbers',
                      f'annotations[{index}] bbox {bbox}')
        elif 'image_id' not in ann or 'category_id' not in ann:
            found.add('annotations without image_id or category_id',
                      f'annotations[{index}]')
    names = defaultdict(list)
    for index, category in enumerate(content.get('categories', [])):
        if not (isinstance(category, dict) and 'id' in category and
                isinstance(category.get('name'), str)):
            found.add('categories without an id and a name',
                      f'categories[{index}]')
        else:
            names[category['name']].append(category['id'])
    for name, ids in names.items():
        if len(ids) > 1:
            found.add('category names given to several ids',
                      f'{name!r}: ids {", ".join(map(str, ids))}')
    return found


def check_coco(ann_file: str, image_folder: str, classes=None,
               content=None) -> Findings:
    """``content``: the file's JSON when the caller has read it."""
    if content is None:
        content = load_json(ann_file)
    found = check_coco_layout(content, ann_file)
    if any(found.counts[kind] for kind in COCO_LAYOUT):
        return found  # the checks below read these fields
    images = {}
    for image in content.get('images', []):
        if image['id'] in images:
            found.add('duplicated image ids', image['id'])
        images[image['id']] = image
    categories = {c['id']: c.get('name') for c in
                  content.get('categories', [])}
    wanted = set(classes) if classes else None
    seen_ids = set()
    for ann in content.get('annotations', []):
        if ann.get('id') in seen_ids:
            found.add('duplicated annotation ids', ann.get('id'))
        seen_ids.add(ann.get('id'))
        if ann.get('image_id') not in images:
            found.add('annotations of images not in "images"',
                      f'annotation {ann.get("id")} -> image '
                      f'{ann.get("image_id")}')
        if ann.get('category_id') not in categories or (
                wanted and categories[ann['category_id']] not in wanted):
            found.add('annotations of unknown categories',
                      f'annotation {ann.get("id")} category '
                      f'{ann.get("category_id")}')
        bbox = ann.get('bbox') or [0, 0, 0, 0]
        if len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0:
            found.add('boxes without positive width and height',
                      f'annotation {ann.get("id")} bbox {bbox}')
    for image in images.values():
        path = osp.join(image_folder, image['file_name'])
        if not osp.isfile(path):
            found.add('listed images without a file', path)
            continue
        size = image_size(path)
        if size is None:
            found.add('image files that cannot be read', path)
        elif size != (image.get('width'), image.get('height')):
            found.add('images whose size disagrees with the file',
                      f'{image["file_name"]} {image.get("width")}x'
                      f'{image.get("height")} in the JSON, {size[0]}x'
                      f'{size[1]} on disk')
    return found


COCO_LAYOUT = ('image entries without an int id, a file_name and positive '
               'width and height',
               'annotations without a bbox of 4 numbers',
               'annotations without image_id or category_id',
               'categories without an id and a name',
               'category names given to several ids')
COCO_REFUSED = COCO_LAYOUT + (
    'duplicated image ids', 'duplicated annotation ids',
    'annotations of images not in "images"', 'listed images without a file',
    'image files that cannot be read',
    'images whose size disagrees with the file')
COCO_SKIPPED = ('boxes without positive width and height',
                'annotations of unknown categories')


def check_label_maps(image_folder: str, label_folder: str,
                     num_classes: int, reduce_zero_label: bool,
                     ignore_index: int, image_suffix: str,
                     label_suffix: str) -> Findings:
    import cv2
    import numpy as np
    found = Findings()
    valid = set(range(1, num_classes + 1)) | {0} if reduce_zero_label \
        else set(range(num_classes))
    valid.add(ignore_index)
    for name in sorted(os.listdir(label_folder)):
        if not name.endswith(label_suffix):
            continue
        stem = name[:-len(label_suffix)]
        image_path = osp.join(image_folder, stem + image_suffix)
        label = cv2.imread(osp.join(label_folder, name),
                           cv2.IMREAD_UNCHANGED)
        if label is None:
            found.add('label maps that cannot be read', name)
            continue
        size = image_size(image_path) if osp.isfile(image_path) else None
        if size is None:
            found.add('label maps without an image', name)
        elif size != (label.shape[1], label.shape[0]):
            found.add('label maps whose size differs from the image',
                      f'{name} {label.shape[1]}x{label.shape[0]}, image '
                      f'{size[0]}x{size[1]}')
        values = set(np.unique(label).tolist()) - valid
        if values:
            found.add('label maps with values outside the classes and the '
                      'ignore index', f'{name}: {sorted(values)[:5]}')
    return found


def check_evaluator(cfg, loader: str, ann_path: str, own: dict) -> None:
    """The COCO evaluator of ``loader`` scores against ground truth of the
    same images: refused when there is none (mmdet prints metrics of -1 and
    exits 0) or when its ``ann_file`` lists other images than the dataset's
    (image ids collide: every score would be against another image).
    ``own`` is the dataset's annotation file, read.

    Raises:
        DataError: one line with counts and examples.
    """
    for name, evaluator in coco_evaluators(cfg, loader):
        if evaluator.get('format_only'):
            continue
        truth_path = evaluator.get('ann_file') or ann_path
        same_file = osp.abspath(truth_path) == osp.abspath(ann_path)
        truth = own if same_file else load_json(truth_path)
        if not isinstance(truth, dict):
            raise DataError(f'{name}.ann_file {truth_path} is not a COCO '
                            f'annotation object')
        if truth.get('images') and not truth.get('annotations'):
            raise DataError(
                f'{name}: {truth_path} has no annotations, so there is no '
                f'ground truth to score against (metrics would be -1); set '
                f'{name}.format_only=True to only write the predictions')
        if same_file:
            continue
        # a dataset file without annotations (image info only) is
        # compared by its image entries alone
        with_boxes = bool(own.get('annotations'))
        described = _image_records(own, with_boxes)
        truths = _image_records(truth, with_boxes)
        other = [f'image {i} ({record[0]!r})' for i, record in
                 described.items() if truths.get(i) != record]
        if other:
            raise DataError(
                f'{name}.ann_file {truth_path} describes other images than '
                f'{loader} ({ann_path}): {len(other)} of {len(described)} '
                f'images are missing there or differ in file, size or '
                f'boxes (e.g. {", ".join(other[:EXAMPLES])})')


def _image_records(content: dict, with_boxes: bool = True) -> dict:
    """Image id -> (file name, width, height, sorted (category, box)) of a
    COCO file: what must agree between a dataset and its evaluator (toy and
    custom splits reuse ids and file names, so names alone do not tell)."""
    boxes = defaultdict(list)
    for ann in content.get('annotations', []) if with_boxes else ():
        boxes[ann.get('image_id')].append(
            (ann.get('category_id'), tuple(ann.get('bbox') or ())))
    return {image.get('id'): (image.get('file_name'), image.get('width'),
                              image.get('height'),
                              tuple(sorted(boxes[image.get('id')])))
            for image in content.get('images', [])}


def validate(cfg, loaders: Sequence[str], strict: bool = False,
             report=print) -> None:
    """Check the annotation files of ``loaders``' datasets.

    Raises:
        DataError: one line with the counts by kind and a few examples.
    """
    from .checks import _dataset_classes
    for loader, dataset in datasets_of(cfg, loaders):
        root = dataset.get('data_root') or ''
        prefix = dataset.get('data_prefix') or {}
        ann_file = dataset.get('ann_file')
        if ann_file and ann_file.endswith('.json'):
            ann_path = _joined(root, ann_file)
            content = load_json(ann_path)  # read once for both checks
            found = check_coco(ann_path, _joined(root, prefix.get('img', '')),
                               _dataset_classes(dataset), content)
            refused, skipped = COCO_REFUSED, COCO_SKIPPED
            where = ann_path
            if not found.line(refused):
                check_evaluator(cfg, loader, ann_path, content)
        elif 'seg_map_path' in prefix:
            cls = dataset_class(cfg.default_scope, dataset)
            meta = getattr(cls, 'METAINFO', {})
            classes = _dataset_classes(dataset) or meta.get('classes', ())
            default_reduce = next(
                inspect.signature(k.__init__).parameters[
                    'reduce_zero_label'].default for k in cls.__mro__
                if 'reduce_zero_label' in
                inspect.signature(k.__init__).parameters)
            found = check_label_maps(
                _joined(root, prefix.get('img_path', '')),
                _joined(root, prefix['seg_map_path']), len(classes),
                dataset.get('reduce_zero_label', default_reduce),
                dataset.get('ignore_index', 255),
                dataset.get('img_suffix', '.jpg'),
                dataset.get('seg_map_suffix', '.png'))
            refused = tuple(found.counts)
            skipped = ()
            where = _joined(root, prefix['seg_map_path'])
        else:
            continue
        bad = found.line(refused)
        if bad:
            raise DataError(f'{loader}: {where}: {bad}')
        quietly_skipped = found.line(skipped)
        if quietly_skipped and strict:
            raise DataError(f'{loader}: {where}: {quietly_skipped} '
                            f'(--strict-data)')
        if quietly_skipped:
            report(f'warning: {loader}: {where}: {quietly_skipped}; mmdet '
                   f'skips them (--strict-data refuses)')
