"""The ``torch.export`` step the phone runtimes' converters share
(ExecuTorch, LiteRT): non-strict, at the example's size, with
parameter-derived tables stored as buffers
(:func:`backbones.models.param_cache.tables_as_buffers`)."""
import torch
import torch.nn as nn

from ..errors import ExportError, one_line
from ..models.param_cache import tables_as_buffers


def export_program(graph: nn.Module, example: tuple):
    """``graph`` (eval mode) as a ``torch.export.ExportedProgram`` for
    inputs of ``example``'s shapes.

    Raises:
        ExportError: ``torch.export`` refused the graph.
    """
    example = tuple(example)
    try:
        with tables_as_buffers(graph, example):
            return torch.export.export(graph, example, strict=False)
    except Exception as err:  # the exporter's refusal, whatever its type
        raise ExportError(f'torch.export: {one_line(err)[:300]}') from err
