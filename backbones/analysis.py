"""Parameters and FLOPs of a detection or segmentation config's model
(``tools/get_flops.py`` is its command line).

Needs no dataset and no weights: the model is built from the config and fed
one random image of the config's test size (the fixed ``Resize`` of a
detector's test pipeline, e.g. 320x320 for SSDLite and 1333x800 for
RetinaNet; a segmentor's crop size, 512x512 on ADE20K).

Counting convention: mmengine's analysis tools (a port of fvcore), where one
multiply-add counts as one FLOP (so "FLOPs" here are MACs, as in the EMO and
EdgeNeXt papers).  Two totals:

* all: convolutions, linear layers and attention matrix products, plus
  BN/LN/GN (a few operations per element), upsampling and pooling;
  activations, softmax and additions are not counted;
* conv/linear: convolutions and linear layers only.  This is what the
  module-hook counters of mmcv 1.x (used by the get_flops tools of mmdet 2.x
  and mmseg 0.x, where the official EMO results come from) can see: they miss
  attention written as tensor products, such as EMO's windowed attention.

The forward is the deployed one: backbone, neck and main head without
post-processing (NMS) and without a segmentor's auxiliary head.  Parameters
are those of the whole model, auxiliary head included, less backbone layers
that never run (after the deepest feature map the config uses).
"""
from typing import Any, List, Optional, Sequence

import torch
import torch.nn as nn

from .config import build_model, test_input_shape


# Operators of convolutions and linear layers in mmengine's FLOP breakdown.
DENSE_OPERATORS = ('conv', 'linear', 'addmm')


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``baddbmm(bias, a, b)``: the batched product ``a @ b`` (the bias
    addition, like other additions, is not counted)."""
    from mmengine.analysis.jit_handles import bmm_flop_jit
    return bmm_flop_jit(inputs[1:3], outputs)


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """``scaled_dot_product_attention``: q @ k^T and attn @ v, as the two
    matmuls an explicit implementation performs."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for dim in q[:-2]:
        batch *= dim
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


# Operators mmengine's counter has no rule for, that our backbones use for
# attention products.
EXTRA_FLOP_HANDLES = {
    'aten::scaled_dot_product_attention': sdpa_flop_jit,
    'aten::baddbmm': baddbmm_flop_jit,
}


def flop_analyzer(module: nn.Module, inputs: tuple):
    """mmengine's ``FlopAnalyzer`` with :data:`EXTRA_FLOP_HANDLES`, quiet
    about unsupported operators and modules that do not run."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(module, inputs)
    for name, handle in EXTRA_FLOP_HANDLES.items():
        analyzer.set_op_handle(name, handle)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


class RawForward(nn.Module):
    """A detector's / segmentor's forward without data preprocessing or
    post-processing (their ``mode='tensor'`` path)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return self.model._forward(inputs)


def deployed_param_count(model: nn.Module) -> int:
    """Parameters of the model less those of backbone layers that never run
    (after the deepest map the config asks for, e.g. LeViT's stride-64 stage
    under SSDLite)."""
    unused = getattr(model.backbone, 'unused_parameter_count', lambda: 0)()
    return sum(p.numel() for p in model.parameters()) - unused


def count_params(cfg) -> int:
    return deployed_param_count(build_model(cfg))


def complexity(cfg, shape: Optional[Sequence[int]] = None,
               table_depth: int = 0) -> dict:
    """Parameters and FLOPs of ``cfg``'s model on one ``(3, H, W)`` image."""
    from mmengine.analysis.print_helper import complexity_stats_table
    height, width = shape or test_input_shape(cfg)
    model = build_model(cfg).eval()
    inputs = torch.randn(1, 3, height, width)
    analyzer = flop_analyzer(RawForward(model), (inputs, ))
    with torch.no_grad():
        by_operator = analyzer.by_operator()
    result = dict(params=deployed_param_count(model),
                  flops=sum(by_operator.values()),
                  dense_flops=sum(by_operator.get(op, 0)
                                  for op in DENSE_OPERATORS),
                  shape=(height, width),
                  unsupported=dict(analyzer.unsupported_ops()))
    if table_depth:
        result['table'] = complexity_stats_table(analyzer,
                                                 max_depth=table_depth)
    return result
