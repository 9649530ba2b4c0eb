"""ONNX Runtime (CPU execution provider): ``model`` is the ``.onnx`` file."""
import os.path as osp
from typing import List

import numpy as np

from . import require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('model', )


def inference_session(path: str, threads: int = 0):
    """An onnxruntime CPU session of the ``.onnx`` file at ``path``;
    ``threads`` 0 lets onnxruntime choose."""
    ort = require_runtime('onnxruntime', 'onnxruntime')
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle threads would spin and take the cores from whatever runs next
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options,
                                providers=['CPUExecutionProvider'])


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0):
        self.session = inference_session(
            osp.join(folder, manifest['files']['model']), threads)

    def run(self, inputs: dict) -> List[np.ndarray]:
        return self.session.run(None, inputs)
