"""ExecuTorch artefacts: the graph through ``torch.export`` (non-strict),
lowered to XNNPACK (``XnnpackPartitioner``), one ``model.pte``.  The input
size is static; fp32.  Parameter-derived tables (LeViT's attention biases,
EdgeNeXt's positional encoding) are stored for that size
(:mod:`backbones.export.torch_export`)."""
import os.path as osp
from typing import Dict, Sequence

import torch.nn as nn

from ...errors import ExportError, one_line
from ..torch_export import export_program

FREE_SIZE = False
INT8 = None
NO_INT8 = ("ExecuTorch's int8 path (PT2E with the XNNPACK quantizer) is "
           'not wired here')


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner \
            import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as err:
        raise ExportError(f'ExecuTorch is not installed ({err}); pip '
                          f'install "mobiledense[executorch]"') from err
    program = export_program(graph, example)
    try:
        lowered = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()]).to_executorch()
    except Exception as err:  # the lowering's refusal, whatever its type
        raise ExportError(f'ExecuTorch lowering: {one_line(err)[:300]}') \
            from err
    with open(osp.join(folder, 'model.pte'), 'wb') as handle:
        handle.write(lowered.buffer)
    return dict(model='model.pte')
