"""How far an export's outputs are from PyTorch's: the measures and the
tolerances every check uses (ONNX files, artefacts, int8 against fp32)."""
from typing import List, Sequence

import numpy as np
import torch

from ..errors import ExportError

# Largest relative difference from PyTorch accepted for fp32 exports
FP32_TOLERANCE = 1e-3


def relative_differences(got: Sequence[torch.Tensor],
                         want: Sequence[torch.Tensor]) -> List[float]:
    """Per output: largest absolute difference over the largest magnitude
    of the reference output."""
    if len(got) != len(want):
        raise ExportError(f'{len(got)} outputs where the reference '
                          f'has {len(want)}')
    return [float((g.float() - w.float()).abs().max() /
                  w.float().abs().max().clamp_min(1e-12))
            for g, w in zip(got, want)]


def output_differences(got: Sequence[np.ndarray],
                       want: Sequence[torch.Tensor]) -> List[float]:
    """Per output: the relative difference (:func:`relative_differences`)
    of a runtime's arrays from PyTorch's tensors of the same size."""
    if len(got) != len(want) or any(
            np.asarray(g).size != w.numel() for g, w in zip(got, want)):
        raise ExportError(f'outputs of shapes {[np.shape(g) for g in got]} '
                          f'where PyTorch gives '
                          f'{[tuple(w.shape) for w in want]}')
    return relative_differences(
        [torch.from_numpy(np.asarray(g)).reshape(w.shape)
         for g, w in zip(got, want)], want)
