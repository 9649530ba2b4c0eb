"""A config and a checkpoint -> a self-describing artefact folder that a
runtime runs end to end (``tools/deploy.py`` is its command line;
:mod:`backbones.runtime` runs the result).

:func:`deploy` is a straight pipeline over the backend's module
(:mod:`backbones.export.backends`): the graph, export and convert, verify
against PyTorch, quantize, write.  The folder holds the backend's model
files and ``manifest.json`` (:mod:`backbones.runtime.manifest`).  It is
built in a temporary folder beside ``out`` and renamed into place only once
the backend has loaded it and its outputs equal PyTorch's, so a model a
backend cannot express leaves nothing behind.
"""
import contextlib
import os
import os.path as osp
import platform
import shutil
import tempfile
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn

from .. import __version__
from ..config.walk import class_names, test_input_shape, test_resize
from ..errors import ConverterEnvironmentError, ExportError
from ..models.folding import dilated_conv_input_sizes, padding_taps_dropped
from ..runtime.manifest import (FORMAT, FORMAT_VERSION, MANIFEST,
                                check_manifest, sha256_of, write_manifest)
from .backends import export_backend
from .compare import FP32_TOLERANCE, output_differences
from .graphs import DetectionGraph, SegmentationGraph, pad_value


def preprocess_rule(cfg, size: Tuple[int, int]) -> dict:
    """The test pipeline's resize for an artefact of input ``size``: a
    fixed-size resize goes to ``size`` itself (``--shape`` chooses the
    deployed resolution); a keep-ratio resize keeps the config's scale and
    is padded to ``size``, or to the data preprocessor's size divisor when
    the input size is free."""
    resize = test_resize(cfg)
    if not resize['keep_ratio']:
        resize['scale'] = [size[1], size[0]]
    return resize


def size_divisor(model: nn.Module) -> int:
    """What the data preprocessor pads test images to a multiple of:
    mmdet's ``pad_size_divisor``, mmseg's ``test_cfg['size_divisor']``
    (mmseg pads nothing at test time otherwise)."""
    pre = model.data_preprocessor
    divisor = getattr(pre, 'pad_size_divisor', None)
    if divisor is None:
        divisor = (getattr(pre, 'test_cfg', None) or {}).get('size_divisor')
    return int(divisor or 1)


def leaves_size_free(cfg, backend: str, shape_given: bool) -> bool:
    """Whether an artefact takes images at the size the test pipeline
    resizes them to (keep-ratio resizes, on backends with dynamic shapes,
    unless ``--shape`` fixes one): padding to a static size would change
    what windowed and pooled models compute."""
    return test_resize(cfg)['keep_ratio'] and \
        export_backend(backend).FREE_SIZE and not shape_given


def second_size(size: Tuple[int, int], divisor: int) -> Tuple[int, int]:
    """Another input size to check a free-size artefact at: smaller,
    of another aspect ratio, a multiple of ``divisor``."""
    return tuple(max(divisor, -(-(int(s * f) + 5) // divisor) * divisor)
                 for s, f in zip(size, (0.75, 0.6)))


def default_input_size(cfg) -> Tuple[int, int]:
    """``(H, W)`` an artefact of ``cfg`` takes unless ``--shape`` says
    otherwise: a fixed-size test resize's own size, else the config's test
    size (:func:`backbones.config.test_input_shape`, e.g. the crop)."""
    resize = test_resize(cfg)
    if not resize['keep_ratio']:
        width, height = resize['scale']
        return height, width
    return tuple(test_input_shape(cfg))


def source_record(config: str, checkpoint: str) -> dict:
    """Where an artefact came from: paths and sha256 digests."""
    return dict(config=config, config_sha256=sha256_of(config),
                checkpoint=checkpoint,
                checkpoint_sha256=sha256_of(checkpoint))


def detection_postprocess(model, graph: DetectionGraph) -> dict:
    cfg = model.bbox_head.test_cfg
    nms = cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms':
        raise ExportError(f"test_cfg.nms.type={nms['type']!r}: only "
                          f"'nms' deploys")
    return dict(score_thr=float(cfg.get('score_thr', 0)),
                nms_pre=int(cfg.get('nms_pre', -1)),
                iou_threshold=float(nms.get('iou_threshold', 0.5)),
                max_per_img=int(cfg.get('max_per_img', 100)),
                min_bbox_size=float(cfg.get('min_bbox_size', -1)),
                clip_border=bool(model.bbox_head.bbox_coder.clip_border),
                # with a free input size the graph's third output has them
                **({} if graph.free_size else
                   dict(priors_per_level=graph.priors_per_level)))


def build_graph(model: nn.Module, scope: str, size: Tuple[int, int],
                free_size: bool = False):
    """``(graph, task, output names, postprocess settings)``."""
    if scope == 'mmdet':
        graph = DetectionGraph(model, size, free_size)
        outputs = ['boxes', 'scores'] + (['priors_per_level']
                                         if free_size else [])
        return graph, 'detection', outputs, \
            detection_postprocess(model, graph)
    return SegmentationGraph(model, size, free_size), 'segmentation', \
        ['seg_logits'], dict(align_corners=False)


def versions() -> Dict[str, str]:
    import importlib.metadata as metadata
    found = {'python': platform.python_version()}
    for name in ('torch', 'onnx', 'onnxruntime', 'onnxslim', 'openvino',
                 'ncnn', 'pnnx', 'mnn', 'executorch', 'ai-edge-litert',
                 'mmengine', 'mmcv', 'mmdet', 'mmsegmentation'):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def example_input(size: Tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Pixel-valued random input (0..255), as the graph sees images."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, *size, generator=gen) * 255


def graph_examples(size: Tuple[int, int], free_size: bool,
                   divisor: int) -> List[tuple]:
    """The inputs an artefact is checked on: one image of ``size``; with
    a free size also one of :func:`second_size`."""
    examples = [(example_input(size), )]
    if free_size:
        examples.append((example_input(second_size(size, divisor), 1), ))
    return examples


def verify(folder: str, manifest: dict, graph: nn.Module,
           examples: List[tuple]) -> List[float]:
    """Differences of the backend's outputs from PyTorch's
    (:func:`output_differences`), per output the largest over ``examples``
    (tuples of graph inputs)."""
    from ..runtime import DeployedModel
    model = DeployedModel(folder, manifest=manifest)
    worst = None
    for example in examples:
        got = model.run_graph(example[0].numpy())
        with torch.no_grad():
            want = graph(*example)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        found = output_differences(got, want)
        worst = found if worst is None else list(map(max, worst, found))
    return worst


def check_request(cfg, backend: str, out: str, size: Tuple[int, int],
                  free_size: bool, report) -> None:
    """Refuse what cannot be deployed before any work; warn when a static
    size pads keep-ratio images."""
    if osp.exists(out) and not osp.isfile(osp.join(out, MANIFEST)):
        raise ExportError(f'{out} exists and is not an artefact folder: '
                          f'choose another --out')
    if free_size and not export_backend(backend).FREE_SIZE:
        raise ExportError(f'{backend} artefacts have a static input size')
    if test_resize(cfg)['keep_ratio'] and not free_size:
        report(f'warning: the test pipeline keeps the aspect ratio: images '
               f'are padded to the static {size[0]}x{size[1]} input, which '
               f'PyTorch does not pad; global pooling and strided windows '
               f'then see the padding (toy DeepLabv3-EMO-2M: mIoU 27.1 in '
               f'PyTorch, 8.6 padded to 464x464). Deploy to onnxruntime '
               f'or openvino without --shape (a free input size), or use a '
               f'fixed-size resize.')


@contextlib.contextmanager
def staging_folder(out: str) -> Iterator[str]:
    """A temporary folder beside ``out``, renamed to ``out`` (replacing an
    older artefact) when the block succeeds, removed when it fails."""
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix='.partial-', dir=parent)
    try:
        yield folder
        os.chmod(folder, 0o755)  # mkdtemp makes it private
        if osp.exists(out):
            shutil.rmtree(out)
        os.replace(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def describe(model: nn.Module, cfg, backend: str, task: str, files: dict,
             size: Tuple[int, int], free_size: bool, outputs: List[str],
             post: dict, source: dict) -> dict:
    """The manifest of an fp32 artefact (:mod:`backbones.runtime.manifest`
    lists the fields)."""
    return dict(
        format=FORMAT, format_version=FORMAT_VERSION,
        mobiledense_version=__version__, task=task, backend=backend,
        precision='fp32', files=files, sha256={},
        input=dict(name='image',
                   size=None if free_size else list(size),
                   size_divisor=size_divisor(model), channel_order='bgr',
                   layout='NCHW', dtype='float32',
                   pad_value=pad_value(model)),
        preprocess=preprocess_rule(cfg, size), classes=class_names(cfg),
        postprocess=post, outputs=outputs,
        output_ndims=[3, 3, 1][:len(outputs)] if task == 'detection'
        else [4],
        source=source, versions=versions())


def check_outputs(folder: str, manifest: dict, graph: nn.Module,
                  examples: List[tuple], report) -> dict:
    """The fp32 artefact's outputs against PyTorch's (:func:`verify`);
    returns the manifest's ``verified`` record.

    Raises:
        ExportError: an output differs beyond the tolerance.
    """
    differences = verify(folder, manifest, graph, examples)
    worst = max(differences)
    backend = manifest['backend']
    if worst > FP32_TOLERANCE:
        raise ExportError(f'{backend} output '
                          f'{manifest["outputs"][differences.index(worst)]} '
                          f'differs from PyTorch by {worst:.2e} (above '
                          f'{FP32_TOLERANCE:g}); nothing was written')
    checked = ' and '.join('x'.join(map(str, e[0].shape[-2:]))
                           for e in examples)
    free = manifest['input']['size'] is None
    report(f'{backend} fp32 vs PyTorch at {checked}'
           f'{" (input size free)" if free else ""}: largest relative '
           f'difference {worst:.2e}')
    return {'fp32_relative_difference': worst}


def finish(folder: str, manifest: dict) -> None:
    """Hash the model files, drop everything else, write the manifest."""
    kept = set(manifest['files'].values())
    for name in kept:
        manifest['sha256'][name] = sha256_of(osp.join(folder, name))
    for name in os.listdir(folder):
        if name not in kept:
            os.unlink(osp.join(folder, name))
    check_manifest(manifest, folder, check_files=False)  # just hashed
    write_manifest(folder, manifest)


def deploy(model: nn.Module, cfg, backend: str, out: str,
           size: Tuple[int, int], source: dict,
           quantize: Optional[Callable[[str, dict, nn.Module], dict]] = None,
           report=print, free_size: bool = False) -> dict:
    """Write the artefact of ``model`` (weights loaded, deploy mode) to
    ``out``; returns its manifest.

    ``free_size`` leaves the input size free (:func:`leaves_size_free`):
    ``size`` is then the first size it is checked at, the second is
    :func:`second_size`.

    ``quantize(folder, manifest, graph)``, when given, turns the fp32
    artefact in ``folder`` into int8 and returns the manifest fields it
    changed (:func:`backbones.export.quantize.quantizer`).

    Raises:
        ExportError: the backend cannot express the model, or its outputs
            differ from PyTorch's; nothing is written then.
    """
    converter = export_backend(backend)
    check_request(cfg, backend, out, size, free_size, report)
    graph, task, outputs, post = build_graph(model, cfg.default_scope, size,
                                             free_size)
    graph.eval()
    examples = graph_examples(size, free_size, size_divisor(model))
    # one forward: it caches parameter-only tables (LeViT's biases,
    # EdgeNeXt's encodings), exported as constants, and records the sizes
    # that reach dilated convolutions; at a static size those that only
    # reach padding there export as 1x1 (the check below compares with the
    # full graph)
    sizes = dilated_conv_input_sizes(graph, examples[0])
    static = contextlib.nullcontext() if free_size else \
        padding_taps_dropped(graph, sizes)
    with staging_folder(out) as folder:
        try:
            with static:
                files = converter.convert(graph, examples[0], folder,
                                          ['image'], outputs, free_size)
        except ConverterEnvironmentError:
            raise  # not the model's fault: say it as it is
        except ExportError as err:
            raise ExportError(f'{backend} cannot express this model: '
                              f'{err}') from err
        manifest = describe(model, cfg, backend, task, files, size,
                            free_size, outputs, post, source)
        manifest['verified'] = check_outputs(folder, manifest, graph,
                                             examples, report)
        if quantize is not None:
            manifest.update(quantize(folder, manifest, graph))
        finish(folder, manifest)
    return manifest
