"""LiteRT (TFLite) artefacts: the graph through ``torch.export`` here
(:mod:`backbones.export.torch_export`), converted by ``litert-torch`` in
its own environment (it cannot share the lock:
:mod:`backbones.export.converter_env`, made on first use), one
``model.tflite`` run by XNNPACK.  The input size is static; fp32."""
import os
import os.path as osp
import subprocess
from typing import Dict, Sequence

import torch
import torch.nn as nn

from ...errors import ExportError
from ..converter_env import converter_python
from ..torch_export import export_program

FREE_SIZE = False
INT8 = None
# measured with ai-edge-quantizer 0.10.0 (in the converter environment),
# 8 calibration inputs, 2 threads, AMD EPYC (AVX2): EMO 1.49x, LeViT 2.03x,
# EdgeNeXt 3.69x, AsymmNet 2.07x their fp32 time (the tests' detectors)
NO_INT8 = ("ai-edge-quantizer's static int8 (static_wi8_ai8) ran 1.5-3.7x "
           'slower than fp32 on every family (x86 AVX2 XNNPACK)')
ENVIRONMENT = 'litert-converter'
SCRIPT = osp.join(osp.dirname(osp.abspath(__file__)), 'litert_convert.py')


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    python = converter_python(ENVIRONMENT)
    program_path = osp.join(folder, 'program.pt2')
    torch.export.save(export_program(graph, example), program_path)
    model = osp.join(folder, 'model.tflite')
    done = subprocess.run([str(python), SCRIPT, program_path, model],
                          capture_output=True, text=True)
    os.unlink(program_path)
    if done.returncode != 0 or not osp.isfile(model):
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ExportError(f'LiteRT converter: '
                          f'{lines[-1] if lines else "no model written"}')
    return dict(model='model.tflite')
