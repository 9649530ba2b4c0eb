"""The ``torch.export`` step the phone runtimes' converters share
(ExecuTorch, LiteRT): non-strict, at the example's size, with
parameter-derived tables stored as buffers
(:func:`backbones.models.param_cache.tables_as_buffers`), in the deploy
formulation of at most 4-D tensors (:func:`~backbones.models.folding.
at_most_4d`, ncnn's): measured on the toy SSDLite-EMO-2M at 256x256 (AMD
EPYC, 2 threads), LiteRT ran it in 15.6 ms against 104.5 ms for the
token formulation, whose broadcasts XNNPACK does not take (12 delegated
pieces instead of 2); ExecuTorch 22.6-23.2 against 25.3-26.0 ms."""
import torch
import torch.nn as nn

from ..errors import ExportError, one_line
from ..models.folding import at_most_4d
from ..models.param_cache import tables_as_buffers


def export_program(graph: nn.Module, example: tuple):
    """``graph`` (eval mode) as a ``torch.export.ExportedProgram`` for
    inputs of ``example``'s shapes.

    Raises:
        ExportError: ``torch.export`` refused the graph.
    """
    example = tuple(example)
    try:
        with at_most_4d(graph), tables_as_buffers(graph, example):
            return torch.export.export(graph, example, strict=False)
    except Exception as err:  # the exporter's refusal, whatever its type
        raise ExportError(f'torch.export: {one_line(err)[:300]}') from err
