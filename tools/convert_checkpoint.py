"""Convert an official backbone release into this project's layout.

    python tools/convert_checkpoint.py SRC DST BACKBONE
    python tools/convert_checkpoint.py \\
        checkpoints/0.7542-imagenet-modifiedv3-358-best.params \\
        checkpoints/asymmnet_large_100.pth AsymmNet:large

BACKBONE is ``TYPE:ARCH[:key=value,...]`` (``EMO:2M``, ``EdgeNeXt:small``,
``LeViT:128S``, ``AsymmNet:small:widen_factor=0.5``).  SRC is read the way a
``Pretrained`` init_cfg reads it (official layouts as released, MXNet
``.params`` without MXNet, wrappers and prefixes) and must fit the backbone
exactly; DST is a plain ``.pth`` (``{'state_dict': ..., 'meta': ...}``, tensors
only) that any config of that backbone loads, for sharing without the
original format's reader.
"""
import os

import torch


from backbones import cli


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official release file')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('backbone', help='TYPE:ARCH[:key=value,...]')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='read SRC with weights_only=False (only for a '
                        'file you trust)')
    args = parser.parse_args(argv)
    cli.preflight()
    cli.apply_unsafe_load(args.unsafe_load)
    if not args.dst.endswith('.pth'):
        raise cli.ToolError(f'DST must end with .pth: {args.dst}')
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        raise cli.ToolError('DST would overwrite SRC')
    from backbones.checkpoint import load_backbone_checkpoint
    backbone = cli.build_backbone(args.backbone)
    layout = load_backbone_checkpoint(backbone, args.src)
    state = {k: v.contiguous() for k, v in backbone.state_dict().items()}
    torch.save({'state_dict': state,
                'meta': {'source': os.path.basename(args.src),
                         'backbone': args.backbone, 'layout': layout}},
               args.dst)
    print(f'wrote {args.dst}: {len(state)} tensors of {args.backbone} from '
          f'{args.src} ({layout} layout)')


if __name__ == '__main__':
    cli.run_tool(main)
