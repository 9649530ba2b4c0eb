"""Parameters and FLOPs of a detection or segmentation config.

    python tools/get_flops.py CONFIG [--shape H W] [--table DEPTH]

Counting convention and what is counted: :mod:`backbones.analysis`.
"""

from backbones import cli
from backbones.analysis import complexity


def parse_args(argv=None):
    parser = cli.ArgumentParser(
        description='Count parameters and FLOPs (multiply-adds)')
    parser.add_argument('config')
    parser.add_argument('--shape', type=cli.positive_int, nargs=2,
                        metavar=('H', 'W'),
                        help="input height and width (default: the config's "
                        'test size)')
    parser.add_argument('--table', type=cli.non_negative_int, default=0,
                        metavar='DEPTH',
                        help='also print a per-module table to this depth')
    cli.add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cli.preflight()
    cfg = cli.load_config(args.config, args.cfg_options)
    cli.check_channels(cfg)
    result = complexity(cfg, args.shape, args.table)
    height, width = result['shape']
    print(f'config: {args.config}')
    print(f'input: 1x3x{height}x{width}')
    print(f'params: {result["params"] / 1e6:.3f} M ({result["params"]:,})')
    print(f'FLOPs: {result["flops"] / 1e9:.3f} G (1 multiply-add = 1 FLOP)')
    print(f'conv/linear FLOPs: {result["dense_flops"] / 1e9:.3f} G (without '
          f'attention products and norms)')
    if result['unsupported']:
        print('not counted (no FLOP rule): ' + ', '.join(
            f'{op} x{n}' for op, n in sorted(result['unsupported'].items())))
    if args.table:
        print(result['table'])
    return result


if __name__ == '__main__':
    cli.run_tool(main)
