"""MNN (CPU backend, fp32 precision): ``model`` is the ``.mnn`` file."""
import os
import os.path as osp
from typing import List

import numpy as np

from ...errors import ArtefactError
from . import require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('model', )
PROFILER = None


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        require_runtime('MNN', 'mnn')
        import MNN.expr as expr
        import MNN.nn as mnn_nn
        self.expr = expr
        # 'high': fp32 arithmetic, as the graph was verified with
        # threads 0: every core, as the other runtimes' default (MNN's own
        # is one thread: 39.5 vs 24.0 ms on 2 cores, toy SSDLite-EMO-2M)
        config = {'backend': 'CPU', 'precision': 'high',
                  'numThread': threads or os.cpu_count()}
        runtime = mnn_nn.create_runtime_manager((config, ))
        inputs = [manifest['input']['name']] + list(
            manifest['input'].get('extra', []))
        path = osp.join(folder, manifest['files']['model'])
        self.net = mnn_nn.load_module_from_file(
            path, inputs, manifest['outputs'], runtime_manager=runtime)
        if self.net is None:
            raise ArtefactError(f'MNN cannot load {path}')

    def run(self, inputs: dict) -> List[np.ndarray]:
        expr = self.expr
        feeds = [expr.const(np.ascontiguousarray(array), list(array.shape),
                            expr.NCHW) for array in inputs.values()]
        results = []
        for output in self.net.forward(feeds):
            if output.data_format != expr.NCHW:  # MNN's packed NC4HW4
                output = expr.convert(output, expr.NCHW)
            results.append(np.array(output.read(), copy=True))
        return results
