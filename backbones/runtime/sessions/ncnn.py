"""ncnn (CPU, fp32 storage and arithmetic for fp32 artefacts): ``param``/``bin``
as pnnx writes them."""
import os.path as osp
from typing import List

import numpy as np

from ...errors import ArtefactError
from . import require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('param', 'bin')
# ncnn prints per-layer times only when built with NCNN_BENCHMARK, and its
# Python binding returns none
PROFILER = None


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
        return results
