"""ncnn (CPU, fp32 storage and arithmetic for fp32 artefacts): ``param``/``bin``
as pnnx writes them."""
import os.path as osp
import time
from collections import Counter
from typing import Dict, List

import numpy as np

from ...errors import ArtefactError
from . import require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('param', 'bin')
# ncnn prints per-layer times only when built with NCNN_BENCHMARK and its
# Python binding returns none, so a profiling session times each layer on
# its own (:class:`LayerProfile`)
PROFILER = 'layer-by-layer timing (each layer after the graph before it)'
# ncnn's names for layout operators; its ``Split`` is not one: it hands a
# blob to several layers without a copy
LAYOUT_OPS = frozenset(('Permute', 'Reshape', 'Flatten', 'Squeeze',
                        'ExpandDims', 'Slice', 'Crop', 'Padding'))
# sweeps a profiling session makes (its first runs); each costs about
# layers / 2 graph runs
PROFILE_SWEEPS = 10


class LayerProfile:
    """Per-layer times of an ncnn net without its profiler.  For layer
    ``k``, a fresh extractor computes, untimed, everything layers
    ``0..k-1`` hand on (the cut after ``k - 1``); then extracting ``k``'s
    outputs runs layer ``k`` alone on inputs just written, as in a run.
    Blobs are extracted as computed (packed, no conversion), and the cost
    of the extraction call itself (12-25 us from Python, as much as a
    small layer) is taken off: the same outputs extracted again.  Each
    layer's fastest sweep is kept.  What is left of the call, about 10 us
    a layer (ncnn's ``Split``, which copies nothing, shows it), puts the
    sum up to 15 % above a run's time (the SSDLite graphs at 320x320, AMD
    EPYC VM).

    Raises:
        ArtefactError: the param file's layers are not in graph order.
    """

    def __init__(self, net, input_name: str):
        self.net, self.input_name = net, input_name
        layers, blobs = net.layers(), net.blobs()
        if any(0 <= b.consumer < b.producer for b in blobs):
            raise ArtefactError('ncnn layers are not in graph order: the '
                                'layer profile needs them so')
        self.types = [layer.type for layer in layers]
        self.outputs = [list(layer.tops) for layer in layers]
        # the blobs layers 0..k hand to later layers or give out (the
        # input is given, not computed)
        self.cuts = [[i for i, b in enumerate(blobs)
                      if 0 <= b.producer <= k and self.types[b.producer] !=
                      'Input' and (b.consumer > k or b.consumer < 0)]
                     for k in range(len(layers))]
        self.fastest = [0.0 if t == 'Input' else float('inf')
                        for t in self.types]
        self.extraction = list(self.fastest)  # the call's own cost
        self.sweeps = 0

    def timed_extraction(self, extractor, blobs) -> float:
        start = time.perf_counter()
        for blob in blobs:
            extractor.extract(blob, 1)  # 1: as computed, no unpacking
        return time.perf_counter() - start

    def sweep(self, image) -> None:
        """Time every layer once on ``image``, an ``ncnn.Mat``."""
        for k, layer_type in enumerate(self.types):
            if layer_type == 'Input':
                continue
            extractor = self.net.create_extractor()
            extractor.input(self.input_name, image)
            for blob in self.cuts[k - 1] if k else ():
                extractor.extract(blob, 1)
            layer = self.timed_extraction(extractor, self.outputs[k])
            again = self.timed_extraction(extractor, self.outputs[k])
            self.fastest[k] = min(self.fastest[k], layer)
            self.extraction[k] = min(self.extraction[k], again)
        self.sweeps += 1

    def layer_type_times(self) -> Dict[str, float]:
        """Seconds per layer type in one run of the graph (a layer that
        costs nothing can come out a few microseconds negative)."""
        times = Counter()
        for layer_type, layer, call in zip(self.types, self.fastest,
                                           self.extraction):
            times[layer_type] += layer - call
        times.pop('Input', None)
        return dict(times)


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        ncnn = require_runtime('ncnn', 'ncnn')
        self.ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        if manifest['precision'] == 'fp32':
            # fp32 arithmetic and storage, as the graph was verified with
            for option in ('use_fp16_packed', 'use_fp16_storage',
                           'use_fp16_arithmetic', 'use_bf16_storage'):
                setattr(self.net.opt, option, False)
        if threads:
            self.net.opt.num_threads = threads
        if self.net.load_param(osp.join(
                folder, manifest['files']['param'])) != 0 or \
                self.net.load_model(osp.join(
                    folder, manifest['files']['bin'])) != 0:
            raise ArtefactError(f'ncnn cannot load the model in {folder}')
        self.inputs = list(self.net.input_names())
        # pnnx names outputs out0, out1, ... in graph order; ncnn lists
        # them in another order
        self.outputs = sorted(self.net.output_names(),
                              key=lambda name: int(name[3:]))
        self.out_ndims = manifest['output_ndims']
        self.profile = LayerProfile(self.net, self.inputs[0]) \
            if profile else None
        self.runs = 0

    def run(self, inputs: dict) -> List[np.ndarray]:
        pixels, = inputs.values()  # static graphs take the image alone
        extractor = self.net.create_extractor()
        # ncnn blobs carry no batch axis; the Mat wraps the array's memory,
        # which must outlive the extraction
        image = np.ascontiguousarray(pixels[0])
        extractor.input(self.inputs[0], self.ncnn.Mat(image))
        results = []
        for name, ndim in zip(self.outputs, self.out_ndims):
            status, blob = extractor.extract(name)
            if status != 0:
                raise ArtefactError(f'ncnn failed to compute {name}')
            array = np.array(blob)
            results.append(array.reshape((1, ) * (ndim - array.ndim) +
                                         array.shape))
        self.runs += 1
        if self.profile is not None and \
                self.profile.sweeps < PROFILE_SWEEPS:
            self.profile.sweep(self.ncnn.Mat(image))
        return results

    def op_times(self, skip_runs: int = 0) -> Dict[str, float]:
        """Seconds per ncnn layer type (after pnnx's and ncnn's fusions)
        over the runs after the first ``skip_runs``: the layer profile's
        estimate of one run (each layer's fastest sweep, so the first runs
        weigh nothing), times those runs."""
        if self.profile is None:
            raise ArtefactError('this session was built without profiling')
        runs = max(self.runs - skip_runs, 0)
        return {layer_type: seconds * runs for layer_type, seconds in
                self.profile.layer_type_times().items()}
