"""The model-zoo table: measured params/FLOPs of every config beside the
published numbers (``configs/paper_results.json``).

    python tools/model_zoo.py                 # print the Markdown table
    python tools/model_zoo.py --write-docs    # refresh docs/model_zoo.md

FLOPs follow ``tools/get_flops.py`` (mmengine's counter, 1 multiply-add =
1 FLOP, at each config's test size, deployed forward): all counted
operators, and convolutions/linear layers only.
"""
import json
import os
import sys
from pathlib import Path

from backbones import cli
from backbones.analysis import complexity

REPO = Path(__file__).resolve().parents[1]

METRIC_NAMES = {'mmdet': 'COCO mAP', 'mmseg': 'ADE20K mIoU'}


def zoo_configs():
    return sorted((REPO / 'configs').glob('*.py'))


def paper_results() -> dict:
    return json.loads((REPO / 'configs' / 'paper_results.json').read_text())


def fmt(value, digits=1, suffix=''):
    return '-' if value is None else f'{value:.{digits}f}{suffix}'


def rows():
    paper = paper_results()
    for path in zoo_configs():
        cfg = cli.load_config(str(path))
        measured = complexity(cfg)
        published = paper.get(path.stem, {})
        yield path, cfg, measured, published


def table() -> str:
    lines = [
        '| config | input | params (M) | paper | FLOPs (G) | conv/linear '
        'FLOPs (G) | paper | paper metric |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for path, cfg, measured, published in rows():
        height, width = measured['shape']
        params = measured['params'] / 1e6
        delta = ''
        if published.get('params'):
            delta = f' ({100 * (params / published["params"] - 1):+.1f}%)'
        metric = published.get('metric')
        metric = '-' if metric is None else \
            f'{metric} {METRIC_NAMES[cfg.default_scope]}'
        lines.append(
            f'| [{path.stem}](../configs/{path.name}) | {width}x{height} | '
            f'{params:.2f}{delta} | {fmt(published.get("params"))} | '
            f'{measured["flops"] / 1e9:.2f} | '
            f'{measured["dense_flops"] / 1e9:.2f} | '
            f'{fmt(published.get("flops"))} | {metric} |')
        print(lines[-1], file=sys.stderr, flush=True)
    return '\n'.join(lines)


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--write-docs', action='store_true',
                        help="replace docs/model_zoo.md's table")
    args = parser.parse_args(argv)
    cli.preflight()
    text = table()
    print(text)
    if args.write_docs:
        path = cli.replace_doc_block('docs/model_zoo.md', 'model-zoo', text)
        print(f'updated {os.path.relpath(path)}')


if __name__ == '__main__':
    cli.run_tool(main)
