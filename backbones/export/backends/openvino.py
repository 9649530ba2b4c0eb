"""OpenVINO artefacts: the ONNX file converted to OpenVINO IR (fp32
weights); int8 by NNCF post-training quantization of the IR."""
import os
import os.path as osp
from typing import Dict, List, Sequence

import torch.nn as nn

from ...models.folding import affine_layernorms_on_maps
from ..onnx import write_onnx
from . import last_layers

FREE_SIZE = True
INT8 = 'NNCF quantize'


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    import openvino as ov
    onnx_path = osp.join(folder, 'model.onnx')
    with affine_layernorms_on_maps(graph):
        write_onnx(graph, example, onnx_path, input_names, output_names,
                   free_size)
    ov.save_model(ov.convert_model(onnx_path), osp.join(folder, 'model.xml'),
                  compress_to_fp16=False)
    os.unlink(onnx_path)
    return dict(xml='model.xml', bin='model.bin')


def quantize(folder: str, manifest: dict, inputs: List[dict],
             graph=None) -> dict:
    import nncf
    import openvino as ov
    core = ov.Core()
    model = core.read_model(osp.join(folder, manifest['files']['xml']))
    layer_types = ('Convolution', 'GroupConvolution', 'MatMul')
    ops = {op.get_friendly_name(): op for op in model.get_ordered_ops()}

    def inputs_of(name):
        return [v.get_node().get_friendly_name()
                for v in ops[name].input_values()]

    def constant(name):  # a weight, possibly behind a Convert
        node = ops[name]
        while node.get_type_name() == 'Convert':
            node = node.input_value(0).get_node()
        return node.get_type_name() == 'Constant'

    results = [r.get_friendly_name() for r in model.get_results()]
    keep_float = last_layers(
        [i for r in results for i in inputs_of(r)],
        lambda name: ops[name].get_type_name() in layer_types, inputs_of)
    keep_float |= {name for name, op in ops.items()
                   if op.get_type_name() == 'MatMul' and
                   not any(constant(i) for i in inputs_of(name))}
    quantized = nncf.quantize(
        model, nncf.Dataset(inputs), subset_size=len(inputs),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=nncf.IgnoredScope(names=sorted(keep_float),
                                        validate=False))
    ov.save_model(quantized, osp.join(folder, 'model.int8.xml'),
                  compress_to_fp16=False)
    return dict(files=dict(xml='model.int8.xml', bin='model.int8.bin'),
                kept_in_float=len(keep_float))
