"""Checks that turn a config's data mistakes into one readable line.

mmdet / mmseg find a missing folder, a malformed annotation file or an
unreadable image only deep inside a dataloader worker, and stop with its
traceback.  The tools call :func:`check_data` and :func:`check_classes`
before building the runner (cheap: paths and config values only) and run it
inside :func:`data_errors`, which names the file behind what goes wrong
while the data are read.
"""
import contextlib
import json
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

from ..config.walk import LOADERS, datasets_of
from ..errors import DataError

def _joined(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) else osp.join(root, path)


def check_data(cfg, loaders: Sequence[str] = LOADERS) -> None:
    """The data root, annotation file and image/label folders of each
    dataset the ``loaders`` use exist.

    Raises:
        DataError: naming the loader and the missing path.
    """
    for loader, dataset in datasets_of(cfg, loaders):
        root = dataset.get('data_root') or ''
        if root and not osp.isdir(root):
            raise DataError(f'{loader}: data_root {root!r} does not exist '
                            f'(the toy data are made by '
                            f'tools/make_toy_dataset.py).')
        ann_file = dataset.get('ann_file')
        if ann_file and not osp.isfile(_joined(root, ann_file)):
            raise DataError(f'{loader}: annotation file '
                            f'{_joined(root, ann_file)!r} does not exist.')
        for key, folder in (dataset.get('data_prefix') or {}).items():
            if folder and not osp.isdir(_joined(root, folder)):
                raise DataError(f'{loader}: data_prefix.{key} folder '
                                f'{_joined(root, folder)!r} does not exist.')


def _dataset_classes(dataset: dict) -> Optional[Tuple[str, ...]]:
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        from mmengine.registry import DATASETS
        try:
            dataset_cls = DATASETS.get(dataset.get('type'))
        except KeyError:
            return None
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    return tuple(classes) if classes is not None else None


def _heads_with_classes(model: dict) -> List[Tuple[str, int]]:
    heads = []
    for name in ('bbox_head', 'decode_head', 'auxiliary_head'):
        head = model.get(name)
        for i, one in enumerate(head if isinstance(head, list) else [head]):
            if isinstance(one, dict) and 'num_classes' in one:
                label = name if not isinstance(head, list) else f'{name}[{i}]'
                heads.append((label, one['num_classes']))
    roi_head = model.get('roi_head') or {}
    bbox_head = roi_head.get('bbox_head')
    if isinstance(bbox_head, dict) and 'num_classes' in bbox_head:
        heads.append(('roi_head.bbox_head', bbox_head['num_classes']))
    return heads


def check_classes(cfg, loaders: Sequence[str] = LOADERS) -> None:
    """Every head predicts as many classes as the datasets have (a head
    with fewer fails on the first label past its range; one with more
    trains classes that never occur).

    Raises:
        DataError: naming the head, its ``num_classes`` and the dataset's.
    """
    heads = _heads_with_classes(cfg.model)
    for loader, dataset in datasets_of(cfg, loaders):
        classes = _dataset_classes(dataset)
        if classes is None:
            continue
        for head, num_classes in heads:
            if num_classes != len(classes):
                raise DataError(
                    f'model.{head}.num_classes is {num_classes} but the '
                    f'{loader} dataset has {len(classes)} classes '
                    f'(metainfo.classes); make them agree.')


def _last_line(err: BaseException) -> str:
    """A worker's exception arrives with its traceback in the message; the
    original ``Type: message`` is its last line."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _annotation_files(cfg) -> List[str]:
    return [_joined(d.get('data_root') or '', d['ann_file'])
            for _, d in datasets_of(cfg, LOADERS) if d.get('ann_file')]


def _broken_annotation_file(cfg) -> Optional[Tuple[str, str]]:
    """``(path, why)`` of the first annotation file that is not a COCO JSON
    with images; read only after something failed."""
    for path in _annotation_files(cfg):
        if not path.endswith('.json'):
            continue
        try:
            with open(path) as handle:
                content = json.load(handle)
        except json.JSONDecodeError as err:
            return path, f'is not valid JSON ({err.msg}, line {err.lineno} ' \
                         f'column {err.colno})'
        except OSError as err:
            return path, f'cannot be read ({err.strerror})'
        if not isinstance(content, dict) or not content.get('images'):
            return path, 'lists no images'
    return None


def describe_data_error(cfg, err: BaseException) -> Optional[str]:
    """One line naming the file behind an error raised while reading the
    data, or None when the error is not about the data."""
    line = _last_line(err)
    image = re.search(r'failed to load image: (.+)$', line)
    if image:
        return f'cannot read image {image.group(1)}: the file is corrupt or ' \
               f'not an image.'
    missing = re.search(r"No such file or directory: '([^']+)'", line)
    if missing:
        return f'file not found: {missing.group(1)}.'
    if isinstance(err, json.JSONDecodeError) or \
            'need at least one array to concatenate' in line or \
            'JSONDecodeError' in line:
        broken = _broken_annotation_file(cfg)
        if broken:
            return f'annotation file {broken[0]} {broken[1]}.'
        if 'concatenate' in line:
            return 'a dataset is empty: no image has a usable annotation ' \
                   '(filter_cfg drops images without objects).'
    return None


@contextlib.contextmanager
def data_errors(cfg):
    """Re-raise errors about the data as :class:`DataError`."""
    try:
        yield
    except (DataError, KeyboardInterrupt):
        raise
    except Exception as err:
        described = describe_data_error(cfg, err)
        if described is None:
            raise
        raise DataError(described) from err
