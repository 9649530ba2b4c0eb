"""ONNX Runtime (CPU execution provider): ``model`` is the ``.onnx`` file."""
import json
import os
import os.path as osp
import tempfile
from collections import Counter
from typing import Dict, List

import numpy as np

from . import check_input_size, require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('model', )
PROFILER = 'SessionOptions.enable_profiling'


def inference_session(path: str, threads: int = 0, profile: bool = False):
    """An onnxruntime CPU session of the ``.onnx`` file at ``path``;
    ``threads`` 0 lets onnxruntime choose; ``profile`` turns on
    onnxruntime's profiler (read it with :func:`op_times`)."""
    ort = require_runtime('onnxruntime', 'onnxruntime')
    options = ort.SessionOptions()
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = osp.join(
            tempfile.gettempdir(), f'ort-profile-{os.getpid()}')
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # idle threads would spin and take the cores from whatever runs next
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    return ort.InferenceSession(path, options,
                                providers=['CPUExecutionProvider'])


def op_times(session) -> Dict[str, float]:
    """Seconds per operator type (as onnxruntime runs them, after its
    fusions: ``FusedConv``, ``QuickGelu``, ...) over every run of a
    profiling ``session``, which stops profiling."""
    path = session.end_profiling()
    try:
        with open(path) as handle:
            events = json.load(handle)
    finally:
        os.unlink(path)
    totals = Counter()
    for event in events:
        if event.get('cat') == 'Node' and \
                event['name'].endswith('_kernel_time'):
            totals[event['args']['op_name']] += event['dur'] * 1e-6
    return dict(totals)


class Session:
    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        path = osp.join(folder, manifest['files']['model'])
        self.session = inference_session(path, threads, profile)
        check_input_size(self.session.get_inputs()[0].shape[2:], manifest,
                         path)

    def run(self, inputs: dict) -> List[np.ndarray]:
        return self.session.run(None, inputs)

    def op_times(self) -> Dict[str, float]:
        return op_times(self.session)
