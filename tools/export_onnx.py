"""Export a config's backbone, or its whole network without post-processing,
to ONNX and check the file against PyTorch in onnxruntime.

    python tools/export_onnx.py CONFIG OUT.onnx [--checkpoint CKPT]
        [--shape H W] [--backbone-only] [--no-verify]

The network is exported up to the raw head outputs (no NMS, no resizing of
segmentation logits): box decoding and NMS belong to the deployment runtime
(e.g. mmdeploy).  The input is ``(1, 3, H, W)`` at the config's test size
unless ``--shape`` says otherwise; height and width are exported as fixed.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backbones import tooling  # noqa: E402
from get_flops import RawForward, test_input_shape  # noqa: E402

OPSET = 17


def export_module(module: nn.Module, example: torch.Tensor, path) -> None:
    """Export ``module(example)`` (a tensor or tuple of tensors) to ``path``
    with input name ``input`` and outputs ``output0``, ``output1``, ..."""
    module.eval()
    with torch.no_grad():
        outputs = module(example)
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    torch.onnx.export(module, (example, ), str(path), input_names=['input'],
                      output_names=[f'output{i}' for i in range(count)],
                      opset_version=OPSET, dynamo=False)


def flatten_outputs(outputs):
    """Nested tuples/lists of tensors -> a flat list, in order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for item in outputs for t in flatten_outputs(item)]


class FlatForward(RawForward):
    """The raw forward of a detector/segmentor with flat tensor outputs."""

    def forward(self, inputs: torch.Tensor):
        return tuple(flatten_outputs(super().forward(inputs)))


def verify(path, module: nn.Module, example: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime and PyTorch."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        str(path), providers=['CPUExecutionProvider'])
    got = session.run(None, {'input': example.numpy()})
    with torch.no_grad():
        want = flatten_outputs(module(example))
    if len(got) != len(want):
        raise tooling.ToolError(f'onnxruntime returned {len(got)} outputs, '
                                f'PyTorch {len(want)}')
    return max(float((torch.from_numpy(g) - w).abs().max())
               for g, w in zip(got, want))


def main(argv=None):
    parser = argparse.ArgumentParser(description='Export to ONNX')
    parser.add_argument('config')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to load (a training '
                        'checkpoint of the config, or backbone weights with '
                        '--backbone-only)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--backbone-only', action='store_true')
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
        load_checkpoint(model, args.checkpoint, map_location='cpu',
                        strict=True)
    module = model.backbone if args.backbone_only else FlatForward(model)
    if args.checkpoint and args.backbone_only:
        from backbones.checkpoint import load_backbone_checkpoint
        load_backbone_checkpoint(module, args.checkpoint)
    height, width = args.shape or test_input_shape(cfg)
    example = torch.randn(1, 3, height, width)
    export_module(module, example, args.out)
    print(f'exported {args.out} (input 1x3x{height}x{width}, opset {OPSET})')
    if not args.no_verify:
        print(f'onnxruntime vs PyTorch: max abs difference '
              f'{verify(args.out, module, example):.2e}')


if __name__ == '__main__':
    tooling.run_tool(main)
