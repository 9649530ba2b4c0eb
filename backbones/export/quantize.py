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
import time
from typing import Callable, Iterable, List

import numpy as np

from ..config.walk import leaf_datasets
from ..errors import ArtefactError, DataError, ExportError
from .backends import export_backend
from .compare import output_differences


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
        raise DataError('--int8: the training set has no images to '
                        'calibrate on')
    step = max(total // count, 1)
    return [dataset.get_data_info(i)['img_path']
            for i in range(0, total, step)][:count]


def prepared_inputs(images: Iterable, manifest: dict) -> List[dict]:
    """The graph inputs by name of each image (a path or an ``(H, W, 3)``
    uint8 BGR array), as the runtime feeds them."""
    from ..runtime.preprocess import decode, graph_inputs, prepare
    return [graph_inputs(prepare(decode(image), manifest)[0], manifest)
            for image in images]


def median_latency(run: Callable[[], object], reps: int = 15) -> float:
    run()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def training_images(cfg, count: int) -> Callable[[dict], List[dict]]:
    """Calibration inputs: ``count`` training images of ``cfg``, prepared
    as the artefact prepares images."""
    return lambda manifest: prepared_inputs(calibration_images(cfg, count),
                                            manifest)


def quantizer(backend: str,
              calibration: Callable[[dict], List[dict]],
              report=print):
    """The ``quantize`` step of :func:`backbones.export.artefact.deploy`
    for ``backend``: calibrate on ``calibration(manifest)``, quantize with
    the backend's tool (:mod:`backbones.export.backends`), check the int8
    outputs against the fp32 artefact, time both.

    Raises:
        ExportError: the backend has no int8 tool here.
    """
    tool = export_backend(backend)
    if tool.INT8 is None:
        raise ExportError(f'--int8 is not available for {backend}: '
                          f'{tool.NO_INT8}')

    def quantize(folder: str, manifest: dict, graph) -> dict:
        import torch

        from ..runtime import DeployedModel
        inputs = calibration(manifest)
        fp32 = DeployedModel(folder, manifest=manifest)
        changes = tool.quantize(folder, manifest, inputs, graph)
        try:
            int8 = DeployedModel(folder, manifest=dict(
                manifest, **changes, precision='int8'))
        except ArtefactError as err:  # e.g. XNNPACK refusing a node
            raise ExportError(f'{backend} cannot run the int8 model it '
                              f'made: {err}') from err
        reference = fp32.run_graph(inputs[0])
        got = int8.run_graph(inputs[0])
        worst = max(output_differences(
            got, [torch.from_numpy(np.asarray(r)) for r in reference]))
        fp32_ms = median_latency(lambda: fp32.run_graph(inputs[0]))
        int8_ms = median_latency(lambda: int8.run_graph(inputs[0]))
        report(f'{backend} int8: largest relative difference from fp32 '
               f'{worst:.2e}; graph latency fp32 {fp32_ms:.1f} ms, int8 '
               f'{int8_ms:.1f} ms ({int8_ms / fp32_ms:.2f}x)')
        if int8_ms >= fp32_ms:
            report('warning: the int8 artefact is not faster than fp32 on '
                   'this machine; deploy without --int8')
        return dict(files=changes['files'], precision='int8',
                    quantization=dict(
                        tool=tool.INT8, calibration_images=len(inputs),
                        kept_in_float=changes['kept_in_float'],
                        relative_difference_from_fp32=worst,
                        graph_ms=dict(fp32=fp32_ms, int8=int8_ms)))

    return quantize
