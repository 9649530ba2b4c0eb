"""ExecuTorch artefacts: the graph through ``torch.export`` (non-strict,
:mod:`backbones.export.torch_export`), lowered to XNNPACK
(``XnnpackPartitioner``), one ``model.pte``; static input size.  int8:
PT2E with ExecuTorch's XNNPACK quantizer (symmetric, per-channel
weights), calibrated on the deploy step's images, then lowered the same
way (``model.int8.pte``)."""
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
import torch.nn as nn

from ...errors import ExportError, one_line
from ..torch_export import export_program

FREE_SIZE = False
INT8 = 'PT2E + XNNPACKQuantizer (symmetric int8, per-channel weights)'
LAYERS = ('aten.conv2d.default', 'aten.linear.default')


def require_executorch():
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner \
            import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as err:
        raise ExportError(f'ExecuTorch is not installed ({err}); pip '
                          f'install "mobiledense[executorch]"') from err
    return XnnpackPartitioner, to_edge_transform_and_lower


def write_program(program, path: str) -> None:
    """Lower an exported program to XNNPACK and write the ``.pte``."""
    partitioner, lower = require_executorch()
    try:
        lowered = lower(program, partitioner=[partitioner()]).to_executorch()
    except Exception as err:  # the lowering's refusal, whatever its type
        raise ExportError(f'ExecuTorch lowering: {one_line(err)[:300]}') \
            from err
    with open(path, 'wb') as handle:
        handle.write(lowered.buffer)


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    require_executorch()
    write_program(export_program(graph, example),
                  osp.join(folder, 'model.pte'))
    return dict(model='model.pte')


def quantize(folder: str, manifest: dict, inputs: List[dict],
             graph: nn.Module) -> dict:
    require_executorch()
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import (convert_pt2e,
                                                         prepare_pt2e)
    examples = [tuple(torch.from_numpy(np.asarray(a)) for a in feed.values())
                for feed in inputs]
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True))
    quantizer.set_filter_function(in_backbone_or_neck)
    try:
        observed = prepare_pt2e(
            export_program(graph, examples[0]).module(), quantizer)
        with torch.no_grad():
            for example in examples:
                observed(*example)
        quantized = convert_pt2e(observed)
        program = torch.export.export(quantized, examples[0], strict=False)
    except ExportError:
        raise
    except Exception as err:  # the quantizer's refusal, whatever its type
        raise ExportError(f'ExecuTorch int8: {one_line(err)[:300]}') from err
    write_program(program, osp.join(folder, 'model.int8.pte'))
    return dict(files=dict(model='model.int8.pte'),
                kept_in_float=sum(in_float(node) for node in
                                  program.graph.nodes))


def in_float(node) -> bool:
    """A conv or linear layer whose weight is not dequantized from int8."""
    if node.op != 'call_function' or str(node.target) not in LAYERS:
        return False
    weight = node.args[1]
    return 'dequantize' not in str(getattr(weight, 'target', ''))


def in_backbone_or_neck(node) -> bool:
    """The head and what follows stay in float (XNNPACK refused a static
    slice of quantized box outputs)."""
    stack = node.meta.get('nn_module_stack') or {}
    return any(path.startswith(('model.backbone', 'model.neck'))
               for path, _ in stack.values())
