"""LiteRT (``ai-edge-litert``'s interpreter with its default XNNPACK
delegate, fp32): ``model`` is the ``.tflite`` file.  Its one signature
names inputs ``args_<i>`` and outputs ``output_<i>`` in the graph's
order."""
import os
import os.path as osp
import re
from typing import List

import numpy as np

from ...errors import ArtefactError, one_line
from . import check_input_size, require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('model', )
PROFILER = None


def by_position(names) -> List[str]:
    """``args_0, args_1, ...`` / ``output_0, ...`` in numeric order."""
    return sorted(names, key=lambda name: int(re.search(r'\d+$', name)[0]))


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        interpreter = require_runtime('ai_edge_litert.interpreter', 'litert')
        path = osp.join(folder, manifest['files']['model'])
        try:
            # threads 0: every core, as the other runtimes' default (the
            # interpreter's own ran one: 27.8 vs 15.4 ms on 2 cores)
            self.interpreter = interpreter.Interpreter(
                model_path=path, num_threads=threads or os.cpu_count())
            self.runner = self.interpreter.get_signature_runner()
        except Exception as err:  # a file the interpreter cannot read
            raise ArtefactError(f'LiteRT cannot load {path}: '
                                f'{one_line(err)}') from err
        signature = next(iter(
            self.interpreter.get_signature_list().values()))
        self.input_names = by_position(signature['inputs'])
        self.output_names = by_position(signature['outputs'])
        image = self.runner.get_input_details()[self.input_names[0]]
        check_input_size(tuple(int(s) for s in image['shape'][2:]),
                         manifest, path)

    def run(self, inputs: dict) -> List[np.ndarray]:
        feeds = {name: np.ascontiguousarray(array, dtype=np.float32)
                 for name, array in zip(self.input_names, inputs.values())}
        outputs = self.runner(**feeds)
        return [np.array(outputs[name], copy=True)
                for name in self.output_names]
