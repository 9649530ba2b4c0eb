"""The artefact folder's ``manifest.json``: what a runtime needs to turn an
image into the config's predictions without the config, torch or mm*.

Fields (written by :mod:`backbones.export.artefact`)::

    format, format_version, mobiledense_version
    task            'detection' | 'segmentation'
    backend         'onnxruntime' | 'openvino' | 'ncnn' | 'mnn' |
                    'executorch' | 'litert'
    precision       'fp32' | 'int8'
    files           {role: file name}, sha256 {file name: hex digest}
    input           size [H, W] of the static graph input, or null when the
                    size is free (images go in at their resized size,
                    padded to a multiple of size_divisor); channel_order
                    of the pixels fed ('bgr' as decoded), pad_value per
                    channel
    preprocess      resize rule of the test pipeline: keep_ratio, scale
                    [W, H] (mmcv's convention); mean/std and bgr_to_rgb are
                    applied inside the graph
    classes         class names, index = label
    postprocess     detection: score_thr, nms_pre, iou_threshold,
                    max_per_img, min_bbox_size, clip_border (to the
                    resized image, before NMS), priors_per_level (static
                    inputs; with a free size the graph's third output);
                    segmentation: align_corners (the graph gives the
                    decode head's logits, the runtime resizes them)
    outputs         graph output names, in order
    source          config and checkpoint paths with their sha256
    versions        of the packages that wrote the artefact
"""
import hashlib
import json
import os.path as osp
from numbers import Real
from typing import Callable, Dict, List, Tuple

from ..errors import ArtefactError
from .sessions import backend_module

FORMAT = 'mobiledense-artefact'
# 2: free input sizes, input.size_divisor; 3: segmentation graphs end at
# the decode head's logits (the runtime resizes them), no input.extra
FORMAT_VERSION = 3
MANIFEST = 'manifest.json'
REQUIRED = ('format', 'format_version', 'task', 'backend', 'precision',
            'files', 'sha256', 'input', 'preprocess', 'classes',
            'postprocess', 'outputs')


def _positive_ints(count: int) -> Callable:
    return lambda v: isinstance(v, list) and len(v) == count and all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)


def _number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strings(v) -> bool:
    return isinstance(v, list) and bool(v) and all(
        isinstance(i, str) for i in v)


# (field path, check, what it must be): what the runtime reads, so an
# edited field is named in one line instead of failing inside numpy or a
# runtime; optional fields are checked where present
FIELDS: List[Tuple[str, Callable, str]] = [
    ('task', lambda v: v in ('detection', 'segmentation'),
     "'detection' or 'segmentation'"),
    ('precision', lambda v: v in ('fp32', 'int8'), "'fp32' or 'int8'"),
    ('files', lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(f, str) for k, f in v.items()),
     'an object of file names'),
    ('sha256', lambda v: isinstance(v, dict), 'an object of digests'),
    ('input.name', lambda v: isinstance(v, str), 'a string'),
    ('input.size', lambda v: v is None or _positive_ints(2)(v),
     'null or [H, W] of positive ints'),
    ('input.size_divisor', lambda v: _integer(v) and v > 0,
     'a positive int'),
    ('input.channel_order', lambda v: v in ('bgr', 'rgb'), "'bgr' or 'rgb'"),
    ('input.pad_value', lambda v: isinstance(v, list) and len(v) == 3 and
     all(_number(i) for i in v), 'three numbers'),
    ('preprocess.keep_ratio', lambda v: isinstance(v, bool),
     'true or false'),
    ('preprocess.scale', lambda v: isinstance(v, list) and len(v) == 2 and
     all(_number(i) and i > 0 for i in v), '[W, H] of positive numbers'),
    ('classes', _strings, 'a list of class names'),
    ('outputs', _strings, 'a list of output names'),
    ('output_ndims', lambda v: isinstance(v, list) and all(
        _integer(i) and 0 < i <= 4 for i in v), 'a list of 1..4'),
    ('postprocess.score_thr', _number, 'a number'),
    ('postprocess.nms_pre', _integer, 'an int'),
    ('postprocess.iou_threshold', lambda v: _number(v) and 0 <= v <= 1,
     'a number in [0, 1]'),
    ('postprocess.max_per_img', lambda v: _integer(v) and v > 0,
     'a positive int'),
    ('postprocess.min_bbox_size', _number, 'a number'),
    ('postprocess.clip_border', lambda v: isinstance(v, bool),
     'true or false'),
    ('postprocess.priors_per_level', lambda v: isinstance(v, list) and all(
        _integer(i) and i >= 0 for i in v), 'a list of counts'),
    ('postprocess.align_corners', lambda v: v is False, 'false'),
]
REQUIRED_FIELDS = ('input.name', 'input.size', 'input.pad_value',
                   'preprocess.keep_ratio', 'preprocess.scale')


def bad_fields(manifest: dict) -> List[str]:
    """``'FIELD = VALUE (must be ...)'`` for each field of :data:`FIELDS`
    whose value is wrong, or missing where required."""
    found = []
    for path, check, must in FIELDS:
        value, present = manifest, True
        for key in path.split('.'):
            if not isinstance(value, dict) or key not in value:
                present = False
                break
            value = value[key]
        if not present:
            if path in REQUIRED_FIELDS:
                found.append(f'{path} is missing')
        elif not check(value):
            found.append(f'{path} = {json.dumps(value)[:40]} (must be '
                         f'{must})')
    return found


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str, manifest: dict) -> str:
    path = osp.join(folder, MANIFEST)
    with open(path, 'w') as handle:
        json.dump(manifest, handle, indent=2)
        handle.write('\n')
    return path


def check_manifest(manifest: dict, folder: str,
                   check_files: bool = True) -> None:
    """A manifest's format, version, fields and (``check_files``) the
    files it names, present and unchanged (sha256).

    Raises:
        ArtefactError: naming the folder and what is wrong.
    """
    path = osp.join(folder, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT:
        raise ArtefactError(f'{path} is not a {FORMAT} manifest')
    if manifest.get('format_version') != FORMAT_VERSION:
        raise ArtefactError(
            f'{folder} was written in artefact format version '
            f'{manifest.get("format_version")!r} (mobiledense '
            f'{manifest.get("mobiledense_version", "?")}); this mobiledense '
            f'reads version {FORMAT_VERSION}: deploy it again')
    missing = [key for key in REQUIRED if key not in manifest]
    if missing:
        raise ArtefactError(f'{path} lacks {", ".join(missing)}: the '
                            f'artefact is incomplete, deploy it again')
    wrong = bad_fields(manifest)
    if wrong:
        raise ArtefactError(f'{path} has {len(wrong)} wrong field(s): '
                            f'{"; ".join(wrong[:3])}: deploy it again')
    roles = backend_module(manifest['backend']).FILES
    absent = [role for role in roles if role not in manifest['files']]
    if absent:
        raise ArtefactError(f'{path} names no {", ".join(absent)} file for '
                            f'{manifest["backend"]}')
    if check_files:
        for role in roles:
            name = manifest['files'][role]
            file = osp.join(folder, name)
            if not osp.isfile(file):
                raise ArtefactError(f'{folder} is incomplete: {name} '
                                    f'({role}) is missing')
            expected = manifest['sha256'].get(name)
            if expected is not None and sha256_of(file) != expected:
                raise ArtefactError(f'{file} does not match the sha256 in '
                                    f'{MANIFEST}: it was changed or cut '
                                    f'short')


def read_manifest(folder: str, check_files: bool = True) -> Dict:
    """The manifest of ``folder``, checked: the right format and version,
    every field, every file present and unchanged (sha256).

    Raises:
        ArtefactError: naming the folder and what is wrong.
    """
    if not osp.isdir(folder):
        raise ArtefactError(f'artefact folder not found: {folder}')
    path = osp.join(folder, MANIFEST)
    if not osp.isfile(path):
        raise ArtefactError(f'{folder} is not an artefact folder: it has no '
                            f'{MANIFEST} (write one with tools/deploy.py)')
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as err:
        raise ArtefactError(f'{path} is not valid JSON: {err}') from err
    check_manifest(manifest, folder, check_files)
    return manifest
