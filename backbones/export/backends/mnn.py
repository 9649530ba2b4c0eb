"""MNN artefacts: the ONNX file converted by MNN's own converter, called as
its C++ module (``_tools.mnnconvert``; the ``mnnconvert``/``mnnquant``
wrapper scripts would pip-install a telemetry SDK and send usage data).
The input size is static; fp32, GELU written out (MNN's converter fuses
it into an approximation: 4e-4 relative on SSDLite-EMO-1M's outputs)."""
import os
import os.path as osp
from typing import Dict, Sequence

import torch.nn as nn

from ...errors import ExportError
from ...models.folding import gelu_written_out
from ..onnx import write_onnx

FREE_SIZE = False
INT8 = None
# its quantizer called as the wheel's C++ module (``_tools.mnnquant``; the
# mnnquant wrapper sends usage data) on the toy EMO and AsymmNet detectors:
# std::length_error, the process aborted (KL, EMA and ADMM alike)
NO_INT8 = ("MNN's quantizer (mnn 3.6.1, _tools.mnnquant) aborted the "
           'process on the toy EMO and AsymmNet detectors')


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    try:
        import _tools as mnn_tools  # the converter module of the mnn wheel
    except ImportError as err:
        raise ExportError(f'MNN is not installed ({err}); pip install '
                          f'"mobiledense[mnn]"') from err
    onnx_path = osp.join(folder, 'model.onnx')
    with gelu_written_out(graph):  # MNN fuses GELU into an approximation
        write_onnx(graph, example, onnx_path, input_names, output_names,
                   free_size)
    model = osp.join(folder, 'model.mnn')
    status = mnn_tools.mnnconvert([
        'mnnconvert', '-f', 'ONNX', '--modelFile', onnx_path, '--MNNModel',
        model, '--bizCode', 'mobiledense'])
    os.unlink(onnx_path)
    # the module returns True on success (not a process exit status)
    if status is not True or not osp.isfile(model):
        raise ExportError(f"MNN's converter wrote no model (it returned "
                          f'{status!r})')
    return dict(model='model.mnn')
