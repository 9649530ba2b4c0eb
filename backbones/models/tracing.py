"""Sizes read from tensors while a model is exported.

Static graphs (every ncnn artefact, and any artefact deployed with a fixed
input size) want plain ints: exporters turn them into constants, pnnx maps
traced size arithmetic wrongly (a pad became a crop), and the caches of
parameter-derived tables look them up.  A graph whose input size is left
free (onnxruntime and OpenVINO artefacts of keep-ratio test pipelines) must
keep the traced sizes instead, and compute those tables inside the graph.
:func:`free_input_size` switches between the two for one export.
"""
import contextlib
from typing import Tuple

import torch

_free_input_size = False
_as_in_exports = False


@contextlib.contextmanager
def free_input_size():
    """Within the block, exports keep sizes as traced values."""
    global _free_input_size
    previous, _free_input_size = _free_input_size, True
    try:
        yield
    finally:
        _free_input_size = previous


def sizes_are_free() -> bool:
    """True while tracing a graph whose input size is left free."""
    return _free_input_size and torch.jit.is_tracing()


def sizes(x: torch.Tensor, start: int = 0) -> Tuple:
    """``x.shape[start:]``: plain ints, or the traced sizes while
    :func:`sizes_are_free`."""
    shape = tuple(x.shape[start:])
    return shape if sizes_are_free() else tuple(int(s) for s in shape)


@contextlib.contextmanager
def as_in_exports():
    """Within the block, eager PyTorch runs the formulations exports take
    (:func:`exporting` is true): for checking them against eager."""
    global _as_in_exports
    previous, _as_in_exports = _as_in_exports, True
    try:
        yield
    finally:
        _as_in_exports = previous


def exporting() -> bool:
    """True while an exporter records the model (ONNX's tracer,
    ``torch.export``) or within :func:`as_in_exports`: where a deployed
    block's graph formulation differs from the one eager PyTorch runs
    fastest."""
    return _as_in_exports or torch.jit.is_tracing() or \
        torch.compiler.is_exporting()
