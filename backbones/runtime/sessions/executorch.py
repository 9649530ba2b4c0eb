"""ExecuTorch (XNNPACK delegate on CPU): ``model`` is the ``.pte`` program.
Its Python runtime takes and returns torch tensors, so a device running
these artefacts from Python has torch (a phone runs the ``.pte`` from
ExecuTorch's C++ runtime instead)."""
import os.path as osp
from typing import List

import numpy as np

from ...errors import ArtefactError, one_line
from . import require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('model', )
PROFILER = None


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        runtime = require_runtime('executorch.runtime', 'executorch')
        import torch
        self.torch = torch
        path = osp.join(folder, manifest['files']['model'])
        try:
            self.method = runtime.Runtime.get().load_program(
                path).load_method('forward')
        except Exception as err:  # a program the runtime cannot load
            raise ArtefactError(f'ExecuTorch cannot load {path}: '
                                f'{one_line(err)}') from err

    def run(self, inputs: dict) -> List[np.ndarray]:
        tensors = [self.torch.from_numpy(np.ascontiguousarray(a))
                   for a in inputs.values()]
        return [o.numpy().copy() for o in self.method.execute(tensors)]
