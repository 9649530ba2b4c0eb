"""ONNX export of a whole model (or a backbone) and its check against
PyTorch in onnxruntime (``tools/export_onnx.py`` is its command line).

The network is exported up to the raw head outputs: input ``input`` of
shape ``(1, 3, H, W)``, outputs ``output0``, ``output1``, ... in the order
of :func:`flatten_outputs`.  Height and width are fixed, or left free
(``free_size``: sizes stay traced, :mod:`backbones.models.tracing`).
Adaptive average pools are exported as products with averaging matrices
(:func:`exportable`), which the exporter accepts at any output size.
"""
import contextlib
from typing import List, Sequence

import torch
import torch.nn as nn

from ..errors import ExportError
from .compare import relative_differences
from ..models.folding import children_replaced
from ..models.tracing import free_input_size, sizes

OPSET = 17


def averaging_matrix(out_size: int, in_size) -> torch.Tensor:
    """``(out_size, in_size)``: row i averages the input bins PyTorch's
    adaptive pooling gives output i (floor(i*in/out) to ceil((i+1)*in/out)).

    Built from tensor ops, so that a traced ``in_size`` gives a matrix the
    graph computes at run time (the bounds are exact: small integers and
    quotients in float32)."""
    rows = torch.arange(out_size, dtype=torch.float32)
    columns = torch.arange(in_size).to(torch.float32)
    start = torch.floor(rows * in_size / out_size)
    end = torch.ceil((rows + 1) * in_size / out_size)
    inside = (columns[None] >= start[:, None]) & (columns[None] < end[:, None])
    return inside.to(torch.float32) / (end - start)[:, None]


class MatrixAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` as two products with averaging matrices.

    PyTorch's ONNX exporter refuses adaptive pooling to a size that does not
    divide the input (PSPNet's 3x3 and 6x6 bins of a 64x64 map); the
    products are the same function for a fixed input size."""

    def __init__(self, pool: nn.AdaptiveAvgPool2d):
        super().__init__()
        size = pool.output_size
        self.output_size = (size, size) if isinstance(size, int) else size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, C, h, w)."""
        in_h, in_w = sizes(x, 2)
        out_h, out_w = (in_s if out_s is None else out_s for in_s, out_s in
                        zip((in_h, in_w), self.output_size))
        rows = averaging_matrix(out_h, in_h).to(x)
        cols = averaging_matrix(out_w, in_w).to(x)
        return rows @ x @ cols.t()


@contextlib.contextmanager
def exportable(module: nn.Module):
    """``module`` with its adaptive average pools swapped for
    :class:`MatrixAdaptiveAvgPool2d` until the block ends."""
    with children_replaced(module, lambda child: MatrixAdaptiveAvgPool2d(
            child) if type(child) is nn.AdaptiveAvgPool2d else None):
        yield module


def export_module(module: nn.Module, example, path,
                  input_name='input',
                  output_names: Sequence[str] = None,
                  free_size: bool = False) -> None:
    """Export ``module(*example)`` (the outputs a tensor or tuple of
    tensors) to ``path`` with the TorchScript exporter (``dynamo=False``:
    torch 2.13's default dynamo exporter needs onnxscript).  ``example``: a
    tensor or a tuple of them, named by ``input_name`` (a name or a list of
    names; the first input is the image); outputs ``output_names`` or
    ``output0``, ``output1``, ...; ``free_size``: the image's height and
    width (and the outputs' sizes) left free."""
    module.eval()
    example = example if isinstance(example, tuple) else (example, )
    input_names = [input_name] if isinstance(input_name, str) else \
        list(input_name)
    if output_names is None:
        with torch.no_grad():
            outputs = module(*example)
        count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
        output_names = [f'output{i}' for i in range(count)]
    dynamic_axes = None
    if free_size:
        dynamic_axes = {input_names[0]: {2: 'height', 3: 'width'}}
    sizes_kept = free_input_size() if free_size else contextlib.nullcontext()
    with exportable(module), sizes_kept:
        torch.onnx.export(module, example, str(path),
                          input_names=input_names,
                          output_names=list(output_names),
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes=dynamic_axes)


def flatten_outputs(outputs) -> List[torch.Tensor]:
    """Nested tuples/lists/dicts of tensors -> a flat list, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return [t for item in outputs for t in flatten_outputs(item)]


class FlatOutputs(nn.Module):
    """``module`` with its outputs as one flat tuple of tensors."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, inputs: torch.Tensor):
        return tuple(flatten_outputs(self.module(inputs)))


def verify(path, module: nn.Module, example: torch.Tensor,
           threads: int = 0) -> List[float]:
    """Relative differences of onnxruntime's outputs (of the file at
    ``path``, input ``input``) from PyTorch's, per output."""
    from ..runtime.sessions.onnxruntime import inference_session
    session = inference_session(str(path), threads)
    got = [torch.from_numpy(o)
           for o in session.run(None, {'input': example.numpy()})]
    with torch.no_grad():
        want = flatten_outputs(module(example))
    return relative_differences(got, want)


def write_onnx(graph: nn.Module, example: tuple, path: str,
               input_names: Sequence[str], output_names: Sequence[str],
               free_size: bool) -> None:
    """An artefact's ONNX file: :func:`export_module`, then onnxslim in
    place (constant folding, shape-op elimination and op fusion: the
    TorchScript exporter leaves hundreds of Shape/Constant nodes; onnxslim
    over onnxsim: a pure-Python wheel, no native build, and it keeps the
    initializer names).

    Raises:
        ExportError: the exporter cannot express the graph.
    """
    import onnx
    import onnxslim
    try:
        export_module(graph, example, path, input_name=list(input_names),
                      output_names=output_names, free_size=free_size)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
        raise ExportError(f'the ONNX export failed: '
                          f'{str(err).splitlines()[0]}') from err
    onnx.save(onnxslim.slim(path), path)
