"""Time the annotation check of ``tools/check_dataset.py`` at COCO scale
(118,287 images and 860,001 annotations, like instances_train2017.json) on
a generated set, since COCO itself is not needed for the measurement.

    python tools/time_data_check.py [--images N] [--annotations N]
        [--root DIR]

The set is written to ``--root`` (a temporary folder, removed afterwards,
by default), then checked twice: the first pass reads image headers from
files just written (in the page cache), as does the second.  Prints the
seconds of each pass; asserts nothing.
"""
import shutil
import tempfile
import time
from pathlib import Path

from backbones import cli
from backbones.data.toy import (COCO_TRAIN_ANNOTATIONS, COCO_TRAIN_IMAGES,
                                write_coco_scale)
from backbones.data.validate import COCO_REFUSED, check_coco


def main(argv=None):
    parser = cli.ArgumentParser(description='Time the COCO annotation check '
                                'at full scale')
    parser.add_argument('--images', type=cli.positive_int,
                        default=COCO_TRAIN_IMAGES)
    parser.add_argument('--annotations', type=cli.positive_int,
                        default=COCO_TRAIN_ANNOTATIONS)
    parser.add_argument('--root', type=Path, help='keep the set here')
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix='coco-scale-'))
    try:
        start = time.perf_counter()
        ann_file = write_coco_scale(root, args.images, args.annotations)
        print(f'wrote {args.images} images, {args.annotations} annotations '
              f'in {time.perf_counter() - start:.1f} s')
        for attempt in (1, 2):
            start = time.perf_counter()
            found = check_coco(str(ann_file), str(root / 'train2017'))
            seconds = time.perf_counter() - start
            print(f'check {attempt}: {seconds:.1f} s '
                  f'({seconds / args.images * 1e6:.0f} us per image); '
                  f'refused: {found.line(COCO_REFUSED) or "nothing"}')
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    cli.run_tool(main)
