"""How far an export's outputs are from PyTorch's: the measures and the
tolerances every check uses (ONNX files, artefacts, int8 against fp32)."""
from typing import List, Sequence

import numpy as np
import torch

from ..errors import ExportError

# Largest relative difference from PyTorch accepted for fp32 exports, and
# the largest share of pixels labelled otherwise (a tie at rounding level
# may flip a pixel's class)
FP32_TOLERANCE = 1e-3
LABEL_TOLERANCE = 1e-3


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
    """Per output: the share of labels that differ for a label map
    (``(1, H, W)`` integers), the relative difference otherwise."""
    if len(got) != len(want) or any(
            np.asarray(g).size != w.numel() for g, w in zip(got, want)):
        raise ExportError(f'outputs of shapes {[np.shape(g) for g in got]} '
                          f'where PyTorch gives '
                          f'{[tuple(w.shape) for w in want]}')
    found = []
    for g, w in zip(got, want):
        g = torch.from_numpy(np.asarray(g)).reshape(w.shape)
        found.append(float((g != w).float().mean()) if not
                     w.is_floating_point() and w.dim() == 3 else
                     relative_differences([g], [w])[0])
    return found
