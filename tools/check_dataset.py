"""Check a config's datasets before a run: paths, classes, and annotation
files (COCO JSON and image headers; ADE20K-style label maps).

    python tools/check_dataset.py CONFIG [--loaders train val test]
        [--strict-data]

Refused (exit 2, one line with counts and examples): duplicated ids,
annotations of missing images, missing or unreadable image files, sizes
that disagree with the files, label maps without an image, of another size
or with values outside the classes and the ignore index.  Boxes and
categories mmdet skips anyway are counted in one warning (refused with
``--strict-data``).  What is checked: :mod:`backbones.data.validate`.
"""
import time

from backbones import cli


def main(argv=None):
    parser = cli.ArgumentParser(description='Check the datasets of a config')
    parser.add_argument('config')
    parser.add_argument('--loaders', nargs='+', default=['train', 'val',
                                                         'test'],
                        choices=['train', 'val', 'test'])
    cli.add_data_args(parser)
    cli.add_common_args(parser)
    args = parser.parse_args(argv)
    cli.preflight()
    from backbones.data.checks import check_classes, check_data
    from backbones.data.validate import validate
    cfg = cli.load_config(args.config, args.cfg_options)
    loaders = [f'{name}_dataloader' for name in args.loaders]
    start = time.perf_counter()
    check_classes(cfg, loaders)
    check_data(cfg, loaders)
    validate(cfg, loaders, args.strict_data)
    print(f'{args.config}: the datasets of {", ".join(loaders)} are valid '
          f'({time.perf_counter() - start:.2f} s)')


if __name__ == '__main__':
    cli.run_tool(main)
