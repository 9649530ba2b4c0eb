"""The artefact folder's ``manifest.json``: what a runtime needs to turn an
image into the config's predictions without the config, torch or mm*.

Fields (written by :mod:`backbones.export.artefact`)::

    format, format_version, mobiledense_version
    task            'detection' | 'segmentation'
    backend         'onnxruntime' | 'openvino' | 'ncnn'
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
                    segmentation: align_corners
    outputs         graph output names, in order
    source          config and checkpoint paths with their sha256
    versions        of the packages that wrote the artefact
"""
import hashlib
import json
import os.path as osp
from typing import Dict

from ..errors import ArtefactError
from .sessions import backend_module

FORMAT = 'mobiledense-artefact'
FORMAT_VERSION = 2  # 2: free input sizes, input.size_divisor
MANIFEST = 'manifest.json'
REQUIRED = ('format', 'format_version', 'task', 'backend', 'precision',
            'files', 'sha256', 'input', 'preprocess', 'classes',
            'postprocess', 'outputs')


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
