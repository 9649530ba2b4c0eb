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

import torch

from backbones import cli
from backbones.analysis import RawForward
from backbones.checkpoint import load_backbone_checkpoint
from backbones.config import test_input_shape
from backbones.export.onnx import (OPSET, FlatOutputs, export_module,
                                   verify)


def main(argv=None):
    parser = cli.ArgumentParser(description='Export to ONNX')
    parser.add_argument('config')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--checkpoint', help='weights to load (a training '
                        'checkpoint of the config, or backbone weights with '
                        '--backbone-only)')
    parser.add_argument('--shape', type=cli.positive_int, nargs=2,
                        metavar=('H', 'W'))
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--deploy', action='store_true',
                        help='export the deploy-mode model (as with '
                        'deploy = True in the config)')
    parser.add_argument('--tolerance', type=cli.positive_float, default=1e-3,
                        help='largest relative difference accepted')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the onnxruntime comparison')
    cli.add_common_args(parser)
    args = parser.parse_args(argv)
    cli.preflight()
    cli.apply_unsafe_load(args.unsafe_load)
    cfg = cli.load_config(args.config, args.cfg_options)
    cli.check_channels(cfg)
    model = cli.build_model(cfg).eval()
    if args.checkpoint and not args.backbone_only:
        cli.load_model_checkpoint(model, args.checkpoint)
    module = model.backbone if args.backbone_only else FlatOutputs(
        RawForward(model))
    if args.checkpoint and args.backbone_only:
        load_backbone_checkpoint(module, args.checkpoint)
    deploy = args.deploy or cfg.get('deploy', False)
    if deploy:
        from backbones.models.folding import switch_model_to_deploy
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
        raise cli.ToolError(
            f'{args.out}: output{output} differs from PyTorch by {worst:.2e} '
            f'relative, above --tolerance {args.tolerance:g}')


if __name__ == '__main__':
    cli.run_tool(main)
