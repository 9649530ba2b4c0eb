"""Export a config's backbone, or its whole network without post-processing,
to ONNX and check the file against PyTorch in onnxruntime.

    python tools/export_onnx.py CONFIG OUT.onnx [--checkpoint CKPT]
        [--shape H W] [--backbone-only] [--deploy] [--tolerance T]
        [--no-verify]

The network is exported up to the raw head outputs (no NMS, no resizing of
segmentation logits): box decoding and NMS belong to the deployment runtime
(e.g. mmdeploy).  ``--deploy`` (or ``deploy = True`` in the config) exports
the model after ``switch_to_deploy`` (BatchNorm folded, parameter-only
tables cached).  Every output is compared with PyTorch's and the export
fails (exit 2) when one differs by more than ``--tolerance`` (default 1e-3)
relative to that output's largest value.  The input is ``(1, 3, H, W)`` at
the config's test size unless ``--shape`` says otherwise; height and width
are exported as fixed.
"""
import argparse
import contextlib
import os
import sys
from typing import List, Sequence

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backbones import tooling  # noqa: E402
from get_flops import RawForward, test_input_shape  # noqa: E402

OPSET = 17


def averaging_matrix(out_size: int, in_size: int) -> torch.Tensor:
    """``(out_size, in_size)``: row i averages the input bins PyTorch's
    adaptive pooling gives output i (floor(i*in/out) to ceil((i+1)*in/out))."""
    matrix = torch.zeros(out_size, in_size)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


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
        in_h, in_w = (int(s) for s in x.shape[-2:])
        out_h, out_w = (in_s if out_s is None else out_s for in_s, out_s in
                        zip((in_h, in_w), self.output_size))
        rows = averaging_matrix(out_h, in_h).to(x)
        cols = averaging_matrix(out_w, in_w).to(x)
        return rows @ x @ cols.t()


@contextlib.contextmanager
def exportable(module: nn.Module):
    """``module`` with its adaptive average pools swapped for
    :class:`MatrixAdaptiveAvgPool2d` until the block ends."""
    swapped = []
    for parent in module.modules():
        for name, child in parent.named_children():
            if type(child) is nn.AdaptiveAvgPool2d:
                parent._modules[name] = MatrixAdaptiveAvgPool2d(child)
                swapped.append((parent, name, child))
    try:
        yield module
    finally:
        for parent, name, child in swapped:
            parent._modules[name] = child


def export_module(module: nn.Module, example: torch.Tensor, path) -> None:
    """Export ``module(example)`` (a tensor or tuple of tensors) to ``path``
    with input name ``input`` and outputs ``output0``, ``output1``, ..."""
    module.eval()
    with torch.no_grad():
        outputs = module(example)
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    with exportable(module):
        torch.onnx.export(module, (example, ), str(path),
                          input_names=['input'],
                          output_names=[f'output{i}' for i in range(count)],
                          opset_version=OPSET, dynamo=False)


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


def relative_differences(got: Sequence[torch.Tensor],
                         want: Sequence[torch.Tensor]) -> List[float]:
    """Per output: largest absolute difference over the largest magnitude
    of the reference output."""
    if len(got) != len(want):
        raise tooling.ToolError(f'{len(got)} outputs where the reference '
                                f'has {len(want)}')
    return [float((g.float() - w.float()).abs().max() /
                  w.float().abs().max().clamp_min(1e-12))
            for g, w in zip(got, want)]


def verify(path, module: nn.Module, example: torch.Tensor) -> List[float]:
    """Relative differences of onnxruntime's outputs from PyTorch's."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = [torch.from_numpy(o)
           for o in session.run(None, {'input': example.numpy()})]
    with torch.no_grad():
        want = flatten_outputs(module(example))
    return relative_differences(got, want)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Export to ONNX')
    parser.add_argument('config')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to load (a training '
                        'checkpoint of the config, or backbone weights with '
                        '--backbone-only)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--deploy', action='store_true',
                        help='export the deploy-mode model (as with '
                        'deploy = True in the config)')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='largest relative difference accepted')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the onnxruntime comparison')
    tooling.add_common_args(parser)
    args = parser.parse_args(argv)
    tooling.preflight()
    tooling.apply_unsafe_load(args.unsafe_load)
    cfg = tooling.load_config(args.config, args.cfg_options)
    tooling.check_channels(cfg)
    model = tooling.build_model(cfg).eval()
    if args.checkpoint:
        tooling.check_checkpoint(args.checkpoint)
    if args.checkpoint and not args.backbone_only:
        from mmengine.runner import load_checkpoint

        from backbones.checkpoint import check_model_checkpoint
        check_model_checkpoint(model, args.checkpoint)
        load_checkpoint(model, args.checkpoint, map_location='cpu',
                        strict=True)
    module = model.backbone if args.backbone_only else FlatOutputs(
        RawForward(model))
    if args.checkpoint and args.backbone_only:
        from backbones.checkpoint import load_backbone_checkpoint
        load_backbone_checkpoint(module, args.checkpoint)
    deploy = args.deploy or cfg.get('deploy', False)
    if deploy:
        from backbones.deploy import switch_model_to_deploy
        switch_model_to_deploy(module)
    height, width = args.shape or test_input_shape(cfg)
    example = torch.randn(1, 3, height, width)
    export_module(module, example, args.out)
    print(f'exported {args.out} ({"deploy" if deploy else "eager"} model, '
          f'input 1x3x{height}x{width}, opset {OPSET})')
    if args.no_verify:
        return
    differences = verify(args.out, module, example)
    worst = max(differences)
    print(f'onnxruntime vs PyTorch: largest relative difference '
          f'{worst:.2e} over {len(differences)} outputs')
    if worst > args.tolerance:
        output = differences.index(worst)
        raise tooling.ToolError(
            f'{args.out}: output{output} differs from PyTorch by {worst:.2e} '
            f'relative, above --tolerance {args.tolerance:g}')


if __name__ == '__main__':
    tooling.run_tool(main)
