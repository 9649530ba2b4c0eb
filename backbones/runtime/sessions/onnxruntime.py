"""ONNX Runtime (CPU execution provider): ``model`` is the ``.onnx`` file."""
import json
import os
import os.path as osp
import tempfile
from collections import Counter
from typing import Dict, List

import numpy as np

from ...errors import ArtefactError
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


def op_times(session, skip_runs: int = 0) -> Dict[str, float]:
    """Seconds per operator type (as onnxruntime runs them, after its
    fusions: ``FusedConv``, ``QuickGelu``, ...) over the runs of a
    profiling ``session`` after the first ``skip_runs`` (a first run
    allocates and prepares: 8x a later one's time for a small conv); this
    stops profiling."""
    path = session.end_profiling()
    try:
        with open(path) as handle:
            events = json.load(handle)
    finally:
        os.unlink(path)
    return node_times(events, skip_runs)


def node_times(events: List[dict], skip_runs: int = 0) -> Dict[str, float]:
    """:func:`op_times` of onnxruntime's profile ``events``: a run is a
    ``model_run`` event, and its operators' ``*_kernel_time`` events start
    within it."""
    starts = sorted(e['ts'] for e in events
                    if e.get('cat') == 'Session' and e['name'] == 'model_run')
    if skip_runs and not starts:
        raise ArtefactError("onnxruntime's profile has no model_run events "
                            "to tell its runs apart")
    if skip_runs >= len(starts) > 0:
        return {}
    first = starts[skip_runs] if skip_runs else float('-inf')
    totals = Counter()
    for event in events:
        if event.get('cat') == 'Node' and event['ts'] >= first and \
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

    def op_times(self, skip_runs: int = 0) -> Dict[str, float]:
        return op_times(self.session, skip_runs)
