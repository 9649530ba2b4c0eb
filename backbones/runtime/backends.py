"""One session class per runtime, all with ``run(inputs) -> [outputs]``
for the graph's inputs by name (the ``(1, 3, H, W)`` float32 image
first).  Each imports its runtime only when it is built, so an artefact
needs just its own."""
import os.path as osp
from collections import OrderedDict
from typing import List

import numpy as np

from .manifest import ArtefactError


def _require(module: str, backend: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ArtefactError(
            f'this artefact runs on {backend}, which is not installed here '
            f'({err}); pip install mobiledense[deploy]') from err


class OnnxRuntimeSession:
    def __init__(self, folder: str, manifest: dict, threads: int = 0):
        ort = _require('onnxruntime', 'onnxruntime')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle threads would spin and take the cores from whatever runs next
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '0')
        self.session = ort.InferenceSession(
            osp.join(folder, manifest['files']['model']), options,
            providers=['CPUExecutionProvider'])

    def run(self, inputs: dict) -> List[np.ndarray]:
        return self.session.run(None, inputs)


class OpenVINOSession:
    COMPILED_SIZES = 16  # kept when compiling per input size

    def __init__(self, folder: str, manifest: dict, threads: int = 0):
        ov = _require('openvino', 'openvino')
        core = ov.Core()
        # f32 arithmetic: on CPUs with bf16 OpenVINO would otherwise compute
        # in bf16 and move boxes by tenths of a pixel; int8 models keep
        # their int8 layers either way.
        config = {'INFERENCE_PRECISION_HINT': 'f32',
                  'PERFORMANCE_HINT': 'LATENCY'}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        model = core.read_model(osp.join(folder, manifest['files']['xml']),
                                osp.join(folder, manifest['files']['bin']))
        self.core, self.model, self.config = core, model, config
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
        return [request.get_output_tensor(i).data.copy()
                for i in range(len(request.model_outputs))]


class NcnnSession:
    def __init__(self, folder: str, manifest: dict, threads: int = 0):
        ncnn = _require('ncnn', 'ncnn')
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


SESSIONS = {'onnxruntime': OnnxRuntimeSession, 'openvino': OpenVINOSession,
            'ncnn': NcnnSession}
