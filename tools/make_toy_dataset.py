"""Generate the toy datasets (COCO / ADE20K layouts) the toy configs use.

    python tools/make_toy_dataset.py coco data/toy_coco
    python tools/make_toy_dataset.py ade20k data/toy_ade20k

What they contain: :mod:`backbones.data.toy`.
"""
from pathlib import Path

from backbones import cli
from backbones.data.toy import WRITERS, make


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Generate a toy dataset')
    parser.add_argument('kind', choices=sorted(WRITERS))
    parser.add_argument('out', type=Path, help='dataset root to create')
    parser.add_argument('--num-train', type=cli.positive_int, default=None,
                        help='training images (coco 400, ade20k 300)')
    parser.add_argument('--num-val', type=cli.positive_int, default=None,
                        help='validation images (coco 100, ade20k 60)')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    defaults = dict(coco=(400, 100), ade20k=(300, 60))[args.kind]
    num_train = args.num_train if args.num_train is not None else defaults[0]
    num_val = args.num_val if args.num_val is not None else defaults[1]
    stamp = make(args.kind, args.out, num_train, num_val, args.seed)
    print(f'{args.kind} toy dataset at {args.out}: {stamp["counts"]}')


if __name__ == '__main__':
    cli.run_tool(main)
