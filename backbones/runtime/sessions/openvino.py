"""OpenVINO (CPU plugin, f32 arithmetic): ``xml``/``bin`` are the IR files."""
import os.path as osp
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Optional

import numpy as np

from ...errors import ArtefactError
from . import check_input_size, require_runtime

# what the artefact folder holds, by role (manifest ``files``)
FILES = ('xml', 'bin')
PROFILER = 'per-layer performance counters'

# layers whose products an int8 artefact may compute in int8; the counters
# give their precision only in the kernel's name (``jit_gemm_I8``,
# ``brgconv_avx2_1x1_f32``), and on CPUs without VNNI an int8 layer can be
# slower than its fp32 self, which the profile should show
ARITHMETIC_LAYERS = frozenset(('Convolution', 'GroupConvolution',
                               'Deconvolution', 'FullyConnected', 'MatMul'))


def layer_label(node_type: str, exec_type: str) -> str:
    """A counter's row in the profile: the layer type, with `` int8`` for
    an arithmetic layer that ran an int8 kernel (``FullyConnected int8``);
    other layers keep their type, by which layout operators are counted.
    """
    if node_type in ARITHMETIC_LAYERS and re.search(r'_[iu]8$', exec_type,
                                                    re.IGNORECASE):
        return f'{node_type} int8'
    return node_type


class Session:
    COMPILED_SIZES = 16  # kept when compiling per input size

    def __init__(self, folder: str, manifest: dict, threads: int = 0,
                 profile: bool = False):
        ov = require_runtime('openvino', 'openvino')
        core = ov.Core()
        # f32 arithmetic: on CPUs with bf16 OpenVINO would otherwise compute
        # in bf16 and move boxes by tenths of a pixel; int8 models keep
        # their int8 layers either way.
        config = {'INFERENCE_PRECISION_HINT': 'f32',
                  'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        # per layer type, the counters' seconds over all runs so far,
        # after each run (OpenVINO's counters are running averages)
        self.profile: Optional[List[Dict[str, float]]] = \
            [] if profile else None
        # per request (one per compiled size): the request (kept, so that
        # its id stays its own), its runs and its totals
        self.counted: Dict[int, tuple] = {}
        if profile:
            config['PERF_COUNT'] = True
        model = core.read_model(osp.join(folder, manifest['files']['xml']),
                                osp.join(folder, manifest['files']['bin']))
        self.core, self.model, self.config = core, model, config
        shape = model.inputs[0].get_partial_shape()
        check_input_size(
            [d.get_length() if d.is_static else None for d in shape][2:],
            manifest, osp.join(folder, manifest['files']['xml']))
        # OpenVINO 2026.4 crashes (SIGSEGV) when an NNCF int8 model with a
        # dynamic input runs a second input size; compiled per size it is
        # sound (about 0.9 s per new size for DeepLabv3-EMO-2M, measured)
        self.per_size = manifest['precision'] == 'int8' and \
            manifest['input']['size'] is None
        self.requests = OrderedDict()
        if not self.per_size:
            self.requests[None] = core.compile_model(
                model, 'CPU', config).create_infer_request()

    def request_for(self, shape: tuple):
        if not self.per_size:
            return self.requests[None]
        if shape not in self.requests:
            model = self.model.clone()
            model.reshape({0: list(shape)})
            self.requests[shape] = self.core.compile_model(
                model, 'CPU', self.config).create_infer_request()
            if len(self.requests) > self.COMPILED_SIZES:
                self.requests.popitem(last=False)
        self.requests.move_to_end(shape)
        return self.requests[shape]

    def run(self, inputs: dict) -> List[np.ndarray]:
        request = self.request_for(next(iter(inputs.values())).shape)
        request.infer(inputs)
        if self.profile is not None:
            self.count_layers(request)
        return [request.get_output_tensor(i).data.copy()
                for i in range(len(request.model_outputs))]

    def count_layers(self, request) -> None:
        """Adds the totals after this run to ``profile``.  OpenVINO's CPU
        counters give each layer's mean time over every run of its
        compiled model so far (whole microseconds), not the last run's;
        summed run by run they counted a first, cold run again at every
        later one (about 3 times over in 12 runs).  A layer's total is its
        mean times the runs, within a microsecond per run."""
        runs = self.counted.get(id(request), (None, 0))[1] + 1
        totals = Counter()
        for layer in request.profiling_info:
            if layer.status.name == 'EXECUTED':
                totals[layer_label(layer.node_type, layer.exec_type)] += \
                    layer.real_time.total_seconds() * runs
        self.counted[id(request)] = (request, runs, totals)
        self.profile.append(sum((t for _, _, t in self.counted.values()),
                                Counter()))

    def op_times(self, skip_runs: int = 0) -> Dict[str, float]:
        """Seconds per layer type (OpenVINO's types after its fusions,
        e.g. ``Subgraph`` for fused element-wise work; :func:`layer_label`)
        over the runs after the first ``skip_runs``."""
        if self.profile is None:
            raise ArtefactError('this session was built without profiling')
        if len(self.profile) <= skip_runs:
            return {}
        after = Counter(self.profile[-1])
        if skip_runs:
            after.subtract(self.profile[skip_runs - 1])
        return dict(after)
