"""A config and a checkpoint -> a self-describing artefact folder that
ONNX Runtime, OpenVINO or ncnn runs end to end (``tools/deploy.py`` is its
command line; :mod:`backbones.runtime` runs the result).

The folder holds the backend's model files and ``manifest.json``
(:mod:`backbones.runtime.manifest`).  It is built in a temporary folder
beside ``out`` and renamed into place only once the backend has loaded it
and its outputs equal PyTorch's, so a model a backend cannot express
leaves nothing behind.
"""
import os
import os.path as osp
import platform
import shutil
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn

from .. import __version__
from ..cli.errors import ToolError
from ..runtime.manifest import (BACKENDS, FORMAT, FORMAT_VERSION, MANIFEST,
                                read_manifest, sha256_of, write_manifest)
from .graphs import DetectionGraph, SegmentationGraph, pad_value
from .onnx import export_module, relative_differences

# Largest relative difference from PyTorch accepted for fp32 artefacts,
# and the largest share of pixels labelled otherwise (a tie at rounding
# level may flip a pixel's class)
FP32_TOLERANCE = 1e-3
LABEL_TOLERANCE = 1e-3
# Backends whose artefacts may leave the input size free (ncnn's may too,
# but pnnx needs the plain-int sizes of a static trace: models.tracing).
FREE_SIZE_BACKENDS = ('onnxruntime', 'openvino')


def test_resize(cfg) -> dict:
    """The ``Resize`` of the config's test pipeline as ``dict(scale=[W, H],
    keep_ratio=...)`` (mmcv's convention)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    for step in dataset.get('pipeline', []):
        if step.get('type') == 'Resize' and step.get('scale'):
            return dict(scale=list(step['scale']),
                        keep_ratio=bool(step.get('keep_ratio', False)))
    raise ToolError('the test pipeline has no Resize with a scale: the '
                    'artefact needs a static input size')


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
        backend in FREE_SIZE_BACKENDS and not shape_given


def second_size(size: Tuple[int, int], divisor: int) -> Tuple[int, int]:
    """Another input size to check a free-size artefact at: smaller,
    of another aspect ratio, a multiple of ``divisor``."""
    return tuple(max(divisor, -(-(int(s * f) + 5) // divisor) * divisor)
                 for s, f in zip(size, (0.75, 0.6)))


def default_input_size(cfg) -> Tuple[int, int]:
    """``(H, W)`` an artefact of ``cfg`` takes unless ``--shape`` says
    otherwise: a fixed-size test resize's own size, else the config's test
    size (:func:`backbones.analysis.test_input_shape`, e.g. the crop)."""
    from ..analysis import test_input_shape
    resize = test_resize(cfg)
    if not resize['keep_ratio']:
        width, height = resize['scale']
        return height, width
    return tuple(test_input_shape(cfg))


def class_names(cfg) -> List[str]:
    from ..data.checks import dataset_class, leaf_datasets
    dataset = next(leaf_datasets(cfg.test_dataloader.dataset))
    metainfo = dataset.get('metainfo') or {}
    if 'classes' in metainfo:
        return list(metainfo['classes'])
    cls = dataset_class(cfg.default_scope, dataset)
    return list(getattr(cls, 'METAINFO', {}).get('classes', []))


def source_record(config: str, checkpoint: str) -> dict:
    """Where an artefact came from: paths and sha256 digests."""
    return dict(config=config, config_sha256=sha256_of(config),
                checkpoint=checkpoint,
                checkpoint_sha256=sha256_of(checkpoint))


def detection_postprocess(model, graph: DetectionGraph) -> dict:
    cfg = model.bbox_head.test_cfg
    nms = cfg.get('nms') or {}
    if nms.get('type', 'nms') != 'nms':
        raise ToolError(f"test_cfg.nms.type={nms['type']!r}: only 'nms' "
                        f'deploys')
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
    graph = SegmentationGraph(model, size, free_size)
    if free_size:  # labels straight from the graph
        return graph, 'segmentation', ['sem_seg'], dict(
            align_corners=False, labels_in_graph=True)
    return graph, 'segmentation', ['seg_logits'], dict(align_corners=False)


def versions() -> Dict[str, str]:
    import importlib.metadata as metadata
    found = {'python': platform.python_version()}
    for name in ('torch', 'onnx', 'onnxruntime', 'onnxslim', 'openvino',
                 'ncnn', 'pnnx', 'mmengine', 'mmcv', 'mmdet',
                 'mmsegmentation'):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def simplify_onnx(path: str) -> None:
    """onnxslim in place: constant folding, shape-op elimination and op
    fusion (the TorchScript exporter leaves hundreds of Shape/Constant
    nodes).  onnxslim over onnxsim: a pure-Python wheel for every
    platform, no native build, and it keeps the graph's initializer
    names."""
    import onnx
    import onnxslim
    onnx.save(onnxslim.slim(path), path)


def to_openvino(onnx_path: str, folder: str) -> Dict[str, str]:
    import openvino as ov
    ov.save_model(ov.convert_model(onnx_path), osp.join(folder, 'model.xml'),
                  compress_to_fp16=False)
    return dict(xml='model.xml', bin='model.bin')


def unknown_ncnn_layers(param_path: str) -> List[str]:
    """Layer types in an ncnn ``.param`` file that ncnn does not have (what
    pnnx writes for operators it could not map)."""
    import ncnn
    with open(param_path) as handle:
        lines = handle.read().splitlines()[2:]
    types = sorted({line.split()[0] for line in lines if line.strip()})
    return [t for t in types if ncnn.layer_to_index(t) < 0]


def to_ncnn(graph: nn.Module, example: torch.Tensor,
            folder: str) -> Dict[str, str]:
    """TorchScript -> pnnx -> ``model.ncnn.param`` / ``.bin`` (fp32)."""
    import pnnx
    work = osp.join(folder, 'pnnx')
    os.makedirs(work)
    param, weights = osp.join(folder, 'model.ncnn.param'), \
        osp.join(folder, 'model.ncnn.bin')
    try:
        pnnx.export(graph, osp.join(work, 'model.pt'), (example, ),
                    ncnnparam=param, ncnnbin=weights,
                    pnnxparam=osp.join(work, 'model.pnnx.param'),
                    pnnxbin=osp.join(work, 'model.pnnx.bin'),
                    pnnxpy=osp.join(work, 'model_pnnx.py'),
                    pnnxonnx=osp.join(work, 'model.pnnx.onnx'),
                    ncnnpy=osp.join(work, 'model_ncnn.py'), fp16=False,
                    check_trace=False)
    except SyntaxError:
        pass  # pnnx's own Python re-export of the graph; ncnn files are out
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not (osp.isfile(param) and osp.isfile(weights)):
        raise ToolError('ncnn cannot express this model: pnnx wrote no ncnn '
                        'files')
    unknown = unknown_ncnn_layers(param)
    if unknown:
        raise ToolError(f'ncnn cannot express this model: it has no layer '
                        f'for {", ".join(unknown)} (ncnn tensors have at '
                        f'most 4 dimensions)')
    return dict(param='model.ncnn.param', bin='model.ncnn.bin')


def output_differences(got: List[np.ndarray], want: List[torch.Tensor]):
    """Per output: the share of labels that differ for the label map,
    the relative difference (:func:`relative_differences`) otherwise."""
    if any(np.asarray(g).size != w.numel() for g, w in zip(got, want)):
        raise ToolError(f'outputs of shapes {[np.shape(g) for g in got]} '
                        f'where PyTorch gives '
                        f'{[tuple(w.shape) for w in want]}')
    found = []
    for g, w in zip(got, want):
        g = torch.from_numpy(np.asarray(g)).reshape(w.shape)
        found.append(float((g != w).float().mean()) if not
                     w.is_floating_point() and w.dim() == 3 else
                     relative_differences([g], [w])[0])
    return found


def verify(folder: str, graph: nn.Module,
           examples: List[tuple]) -> List[float]:
    """Differences of the backend's outputs from PyTorch's
    (:func:`output_differences`), per output the largest over ``examples``
    (tuples of graph inputs)."""
    from ..runtime import load
    model = load(folder)
    names = [model.manifest['input']['name']] + \
        model.manifest['input'].get('extra', [])
    worst = None
    for example in examples:
        got = model.run_graph({n: t.numpy() for n, t in zip(names, example)})
        with torch.no_grad():
            want = graph(*example)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        found = output_differences(got, want)
        worst = found if worst is None else list(map(max, worst, found))
    return worst


def example_input(size: Tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Pixel-valued random input (0..255), as the graph sees images."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, *size, generator=gen) * 255


def graph_examples(size: Tuple[int, int], graph: nn.Module,
                   free_size: bool, divisor: int) -> List[tuple]:
    """The inputs an artefact is checked on: one image of ``size``; with
    a free size also one of :func:`second_size`, and for a segmentation
    graph each with an ``image_size`` that crops and rescales."""
    if not free_size:
        return [(example_input(size), )]
    examples = [(example_input(size), ),
                (example_input(second_size(size, divisor), 1), )]
    if isinstance(graph, SegmentationGraph):
        examples = [(pixels, torch.tensor(
            [pixels.shape[2] - 3 * i, pixels.shape[3] - 2 * i,
             pixels.shape[2] * 5 // 4, pixels.shape[3] * 9 // 10]))
            for i, (pixels, ) in enumerate(examples)]
    return examples


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
    changed (:mod:`backbones.export.quantize`).

    Raises:
        ToolError: the backend cannot express the model, or its outputs
            differ from PyTorch's; nothing is written then.
    """
    if backend not in BACKENDS:
        raise ToolError(f'unknown backend {backend!r}: choose one of '
                        f'{", ".join(BACKENDS)}')
    if osp.exists(out) and not osp.isfile(osp.join(out, MANIFEST)):
        raise ToolError(f'{out} exists and is not an artefact folder: '
                        f'choose another --out')
    if free_size and backend not in FREE_SIZE_BACKENDS:
        raise ToolError(f'{backend} artefacts have a static input size')
    if test_resize(cfg)['keep_ratio'] and not free_size:
        report(f'warning: the test pipeline keeps the aspect ratio: images '
               f'are padded to the static {size[0]}x{size[1]} input, which '
               f'PyTorch does not pad; global pooling and strided windows '
               f'then see the padding (toy DeepLabv3-EMO-2M: mIoU 27.1 in '
               f'PyTorch, 8.6 padded to 464x464). Deploy to onnxruntime '
               f'or openvino without --shape (a free input size), or use a '
               f'fixed-size resize.')
    graph, task, outputs, post = build_graph(model, cfg.default_scope, size,
                                             free_size)
    graph.eval()
    divisor = size_divisor(model)
    examples = graph_examples(size, graph, free_size, divisor)
    example = examples[0]
    input_names = ['image', 'image_size'][:len(example)]
    with torch.no_grad():  # caches parameter-only tables (LeViT's biases,
        graph(*example)    # EdgeNeXt's encodings): exported as constants
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    folder = tempfile.mkdtemp(prefix='.partial-', dir=parent)
    try:
        onnx_path = osp.join(folder, 'model.onnx')
        if backend != 'ncnn':
            try:
                export_module(graph, example, onnx_path,
                              input_name=input_names, output_names=outputs,
                              free_size=free_size)
            except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
                raise ToolError(f'{backend} cannot express this model: the '
                                f'ONNX export failed: '
                                f'{str(err).splitlines()[0]}') from err
            simplify_onnx(onnx_path)
        if backend == 'onnxruntime':
            files = dict(model='model.onnx')
        elif backend == 'openvino':
            files = to_openvino(onnx_path, folder)
            os.unlink(onnx_path)
        else:
            files = to_ncnn(graph, example[0], folder)
        manifest = dict(
            format=FORMAT, format_version=FORMAT_VERSION,
            mobiledense_version=__version__, task=task, backend=backend,
            precision='fp32', files=files, sha256={},
            input=dict(name='image', extra=input_names[1:],
                       size=None if free_size else list(size),
                       size_divisor=divisor, channel_order='bgr',
                       layout='NCHW', dtype='float32',
                       pad_value=pad_value(model)),
            preprocess=preprocess_rule(cfg, size), classes=class_names(cfg),
            postprocess=post, outputs=outputs,
            output_ndims=[3, 3, 1][:len(outputs)] if task == 'detection'
            else [3] if free_size else [4],
            source=source, versions=versions())
        write_manifest(folder, manifest)
        differences = verify(folder, graph, examples)
        worst = max(differences)
        labels = bool(post.get('labels_in_graph'))
        tolerance = LABEL_TOLERANCE if labels else FP32_TOLERANCE
        if worst > tolerance:
            raise ToolError(f'{backend} output '
                            f'{outputs[differences.index(worst)]} differs '
                            f'from PyTorch by {worst:.2e} (above '
                            f'{tolerance:g}); nothing was written')
        checked = ' and '.join('x'.join(map(str, e[0].shape[-2:]))
                               for e in examples)
        measure = 'share of pixels labelled otherwise' if labels else \
            'largest relative difference'
        report(f'{backend} fp32 vs PyTorch at {checked}'
               f'{" (input size free)" if free_size else ""}: {measure} '
               f'{worst:.2e}')
        manifest['verified'] = {
            'fp32_label_mismatch' if labels else
            'fp32_relative_difference': worst}
        if quantize is not None:
            manifest.update(quantize(folder, manifest, graph))
        for name in set(manifest['files'].values()):
            manifest['sha256'][name] = sha256_of(osp.join(folder, name))
        for name in os.listdir(folder):
            if name not in manifest['files'].values():
                os.unlink(osp.join(folder, name))
        write_manifest(folder, manifest)
        read_manifest(folder)
        os.chmod(folder, 0o755)  # mkdtemp makes it private
        if osp.exists(out):
            shutil.rmtree(out)
        os.replace(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return manifest
