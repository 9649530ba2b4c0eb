"""ncnn artefacts: TorchScript -> pnnx -> ``model.ncnn.param`` / ``.bin``
(fp32).  The input size is static: pnnx needs the plain-int sizes of a
static trace (:mod:`backbones.models.tracing`), and turns traced sizes
into wrong ncnn layers."""
import os
import os.path as osp
import shutil
from typing import Dict, List, Sequence

import torch.nn as nn

from ...errors import ExportError
from ...models.folding import at_most_4d, heads_in_pairs

FREE_SIZE = False
INT8 = None
NO_INT8 = ('its int8 tools (ncnn2table, ncnn2int8) are C++ programs the '
           'ncnn wheel does not ship')


def unknown_ncnn_layers(param_path: str) -> List[str]:
    """Layer types in an ncnn ``.param`` file that ncnn does not have (what
    pnnx writes for operators it could not map)."""
    import ncnn
    with open(param_path) as handle:
        lines = handle.read().splitlines()[2:]
    types = sorted({line.split()[0] for line in lines if line.strip()})
    return [t for t in types if ncnn.layer_to_index(t) < 0]


def convert(graph: nn.Module, example: tuple, folder: str,
            input_names: Sequence[str], output_names: Sequence[str],
            free_size: bool) -> Dict[str, str]:
    """TorchScript -> pnnx -> ``model.ncnn.param`` / ``.bin`` (fp32)."""
    import pnnx
    work = osp.join(folder, 'pnnx')
    os.makedirs(work)
    param, weights = osp.join(folder, 'model.ncnn.param'), \
        osp.join(folder, 'model.ncnn.bin')
    try:
        # ncnn tensors have at most 4 dims; its threads share packed channels
        with at_most_4d(graph), heads_in_pairs(graph):
            pnnx.export(graph, osp.join(work, 'model.pt'), example[:1],
                        ncnnparam=param, ncnnbin=weights,
                        pnnxparam=osp.join(work, 'model.pnnx.param'),
                        pnnxbin=osp.join(work, 'model.pnnx.bin'),
                        pnnxpy=osp.join(work, 'model_pnnx.py'),
                        pnnxonnx=osp.join(work, 'model.pnnx.onnx'),
                        ncnnpy=osp.join(work, 'model_ncnn.py'), fp16=False,
                        check_trace=False)
    except SyntaxError:
        pass  # pnnx's own Python re-export of the graph; ncnn files are out
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not (osp.isfile(param) and osp.isfile(weights)):
        raise ExportError('pnnx wrote no ncnn files')
    unknown = unknown_ncnn_layers(param)
    if unknown:
        raise ExportError(f'it has no layer for {", ".join(unknown)} (ncnn '
                          f'tensors have at most 4 dimensions)')
    return dict(param='model.ncnn.param', bin='model.ncnn.bin')
