"""ONNX Runtime artefacts: the simplified ONNX file; int8 by onnxruntime's
static quantization (``quantize_static``), QDQ format, per-channel int8
weights, uint8 activations."""
import os.path as osp
from typing import Dict, List, Sequence

import torch.nn as nn

from ..onnx import write_onnx
from . import last_layers

FREE_SIZE = True
INT8 = 'onnxruntime quantize_static QDQ'


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    write_onnx(graph, example, osp.join(folder, 'model.onnx'), input_names,
               output_names, free_size)
    return dict(model='model.onnx')


def quantize(folder: str, manifest: dict, inputs: List[dict],
             graph=None) -> dict:
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader,
                                          QuantFormat, QuantType,
                                          quantize_static)
    path = osp.join(folder, manifest['files']['model'])
    model = onnx.load(path)
    constants = {i.name for i in model.graph.initializer} | {
        o for n in model.graph.node if n.op_type == 'Constant'
        for o in n.output}
    producer = {o: n for n in model.graph.node for o in n.output}
    layers = ('Conv', 'MatMul', 'Gemm')
    outputs = [producer[o.name].name for o in model.graph.output]
    by_name = {n.name: n for n in model.graph.node}
    keep_float = last_layers(
        outputs, lambda name: by_name[name].op_type in layers,
        lambda name: [producer[i].name for i in by_name[name].input
                      if i in producer])
    keep_float |= {n.name for n in model.graph.node if n.op_type == 'MatMul'
                   and not any(i in constants for i in n.input)}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(inputs)

        def get_next(self):
            return next(self.feeds, None)

    int8_path = osp.join(folder, 'model.int8.onnx')
    quantize_static(path, int8_path, Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(layers),
                    nodes_to_exclude=sorted(keep_float))
    return dict(files=dict(model='model.int8.onnx'),
                kept_in_float=len(keep_float))
