"""int8 artefacts, each with its runtime's own quantization tool,
calibrated on training images prepared exactly as the runtime prepares
images:

* onnxruntime: static quantization (``quantize_static``), QDQ format,
  per-channel int8 weights, int8 activations;
* OpenVINO: NNCF post-training quantization of the OpenVINO model;
* ncnn: its int8 tools (``ncnn2table``, ``ncnn2int8``) are C++ programs the
  ncnn wheel does not ship, so ncnn artefacts stay fp32.

Kept in float, as accuracy needs: LayerNorm and softmax (neither tool
quantizes them here: only convolutions and matrix products are), the
attention products (matrix products of two activations), and the heads'
last layers (the convolutions or products nearest to each graph output).
"""
import os.path as osp
import time
from typing import Callable, Iterable, List, Set

import numpy as np

from ..cli.errors import ToolError
from ..data.checks import leaf_datasets


def calibration_images(cfg, count: int) -> List[str]:
    """``count`` image paths of the training set, evenly spread."""
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.default_scope)
    # the first dataset inside RepeatDataset and friends
    dataset_cfg = next(leaf_datasets(cfg.train_dataloader.dataset)).copy()
    dataset_cfg.pipeline = []
    dataset_cfg.pop('filter_cfg', None)
    dataset = DATASETS.build(dataset_cfg)
    total = len(dataset)
    if total == 0:
        raise ToolError('--int8: the training set has no images to '
                        'calibrate on')
    step = max(total // count, 1)
    return [dataset.get_data_info(i)['img_path']
            for i in range(0, total, step)][:count]


def prepared_inputs(images: Iterable, manifest: dict) -> List[dict]:
    """The graph inputs by name of each image (a path or an ``(H, W, 3)``
    uint8 BGR array), as the runtime feeds them."""
    from ..runtime.preprocess import decode, graph_inputs, prepare
    return [graph_inputs(*prepare(decode(image), manifest), manifest)
            for image in images]


def last_layers(consumers_of_outputs, is_layer, inputs_of) -> Set[str]:
    """Names of the layers nearest to the graph outputs: walk back from the
    outputs through everything that is not a layer."""
    found, seen = set(), set()
    stack = list(consumers_of_outputs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if is_layer(node):
            found.add(node)
        else:
            stack.extend(inputs_of(node))
    return found


def median_latency(run: Callable[[], object], reps: int = 15) -> float:
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def quantize_onnxruntime(folder: str, manifest: dict,
                         inputs: List[dict]) -> dict:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader,
                                          QuantFormat, QuantType,
                                          quantize_static)
    path = osp.join(folder, manifest['files']['model'])
    model = onnx.load(path)
    constants = {i.name for i in model.graph.initializer} | {
        o for n in model.graph.node if n.op_type == 'Constant'
        for o in n.output}
    producer = {o: n for n in model.graph.node for o in n.output}
    layers = ('Conv', 'MatMul', 'Gemm')
    outputs = [producer[o.name].name for o in model.graph.output]
    by_name = {n.name: n for n in model.graph.node}
    keep_float = last_layers(
        outputs, lambda name: by_name[name].op_type in layers,
        lambda name: [producer[i].name for i in by_name[name].input
                      if i in producer])
    keep_float |= {n.name for n in model.graph.node if n.op_type == 'MatMul'
                   and not any(i in constants for i in n.input)}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(inputs)

        def get_next(self):
            return next(self.feeds, None)

    int8_path = osp.join(folder, 'model.int8.onnx')
    quantize_static(path, int8_path, Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(layers),
                    nodes_to_exclude=sorted(keep_float))
    return dict(files=dict(model='model.int8.onnx'),
                kept_in_float=len(keep_float))


def quantize_openvino(folder: str, manifest: dict,
                      inputs: List[dict]) -> dict:
    import nncf
    import openvino as ov
    core = ov.Core()
    model = core.read_model(osp.join(folder, manifest['files']['xml']))
    layer_types = ('Convolution', 'GroupConvolution', 'MatMul')
    ops = {op.get_friendly_name(): op for op in model.get_ordered_ops()}

    def inputs_of(name):
        return [v.get_node().get_friendly_name()
                for v in ops[name].input_values()]

    def constant(name):  # a weight, possibly behind a Convert
        node = ops[name]
        while node.get_type_name() == 'Convert':
            node = node.input_value(0).get_node()
        return node.get_type_name() == 'Constant'

    results = [r.get_friendly_name() for r in model.get_results()]
    keep_float = last_layers(
        [i for r in results for i in inputs_of(r)],
        lambda name: ops[name].get_type_name() in layer_types, inputs_of)
    keep_float |= {name for name, op in ops.items()
                   if op.get_type_name() == 'MatMul' and
                   not any(constant(i) for i in inputs_of(name))}
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs), subset_size=len(inputs),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=nncf.IgnoredScope(names=sorted(keep_float),
                                        validate=False))
    ov.save_model(quantized, osp.join(folder, 'model.int8.xml'),
                  compress_to_fp16=False)
    return dict(files=dict(xml='model.int8.xml', bin='model.int8.bin'),
                kept_in_float=len(keep_float))


QUANTIZERS = {'onnxruntime': quantize_onnxruntime,
              'openvino': quantize_openvino}


def training_images(cfg, count: int) -> Callable[[dict], List[dict]]:
    """Calibration inputs: ``count`` training images of ``cfg``, prepared
    as the artefact prepares images."""
    return lambda manifest: prepared_inputs(calibration_images(cfg, count),
                                            manifest)


def quantizer(backend: str,
              calibration: Callable[[dict], List[dict]],
              report=print):
    """The ``quantize`` step of :func:`backbones.export.artefact.deploy`
    for ``backend``: calibrate on ``calibration(manifest)``, quantize,
    check the int8 outputs against the fp32 artefact, time both."""
    if backend not in QUANTIZERS:
        raise ToolError(f'--int8 is not available for {backend}: its int8 '
                        f'tools (ncnn2table, ncnn2int8) are C++ programs '
                        f'the ncnn wheel does not ship')

    def quantize(folder: str, manifest: dict, graph) -> dict:
        import torch

        from ..runtime import DeployedModel, load
        from .artefact import output_differences
        inputs = calibration(manifest)
        fp32 = load(folder)
        changes = QUANTIZERS[backend](folder, manifest, inputs)
        int8 = DeployedModel(folder, manifest=dict(manifest, **changes,
                                                   precision='int8'))
        reference = fp32.run_graph(inputs[0])
        got = int8.run_graph(inputs[0])
        worst = max(output_differences(
            got, [torch.from_numpy(np.asarray(r)) for r in reference]))
        fp32_ms = median_latency(lambda: fp32.run_graph(inputs[0]))
        int8_ms = median_latency(lambda: int8.run_graph(inputs[0]))
        labels = bool(manifest['postprocess'].get('labels_in_graph'))
        measure = 'share of pixels labelled otherwise than' if labels \
            else 'largest relative difference from'
        report(f'{backend} int8: {measure} fp32 '
               f'{worst:.2e}; graph latency fp32 {fp32_ms:.1f} ms, int8 '
               f'{int8_ms:.1f} ms ({int8_ms / fp32_ms:.2f}x)')
        if int8_ms >= fp32_ms:
            report('warning: the int8 artefact is not faster than fp32 on '
                   'this machine; deploy without --int8')
        return dict(files=changes['files'], precision='int8',
                    quantization=dict(
                        tool='onnxruntime quantize_static QDQ' if
                        backend == 'onnxruntime' else 'NNCF quantize',
                        calibration_images=len(inputs),
                        kept_in_float=changes['kept_in_float'],
                        **{'label_mismatch_with_fp32' if labels else
                           'relative_difference_from_fp32': worst},
                        graph_ms=dict(fp32=fp32_ms, int8=int8_ms)))

    return quantize
