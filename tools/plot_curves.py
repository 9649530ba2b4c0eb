"""Training curves of one or more runs in one PNG.

    python tools/plot_curves.py WORK_DIR [WORK_DIR ...] [--out curves.png]
        [--keys loss lr coco/bbox_mAP] [--labels A B ...]

Reads the scalars MMEngine logs (``<work_dir>/<timestamp>/vis_data/
scalars.json``, every run of a work dir, so a resumed training is one
curve): training records (loss, learning rate) against the iteration, and
validation records (COCO bbox mAP, mIoU, ...) against the iteration at which
they were taken.  One panel per key, one line per work dir.  Default keys:
``loss``, ``lr`` and whichever headline metric the runs logged.
"""
import json
import sys
from pathlib import Path
from typing import Dict, List, Tuple


from backbones import cli

METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'mIoU', 'aAcc', 'mAcc')


def read_scalars(work_dir: Path) -> Dict[str, list]:
    """``{key: [(iteration, value), ...]}`` of a work dir (all its runs,
    later records winning for the same iteration)."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    if not files:
        raise cli.ToolError(
            f'{work_dir}: no */vis_data/scalars.json (not an MMEngine work '
            f'dir, or no iteration was logged yet)')
    series: Dict[str, dict] = {}
    last_train_step = 0
    for path in files:
        text = path.read_text()
        lines = text.splitlines()
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines) and not text.endswith('\n'):
                    # a training still writing its last record
                    print(f'note: skipped the unfinished last line of '
                          f'{path} (a training still running?)',
                          file=sys.stderr)
                    continue
                raise cli.ToolError(f'{path}:{number} is not a JSON '
                                    f'record: {line[:60]!r}')
            step = record.get('iter', record.get('step'))
            if 'loss' in record:
                last_train_step = step = record.get('iter', step)
            elif any(k in record for k in METRICS):
                # validation records count epochs (or iterations) in
                # 'step'; place them at the last training iteration seen
                step = last_train_step
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in (
                        'epoch', 'iter', 'step', 'memory'):
                    series.setdefault(key, {})[step] = value
    return {k: sorted(v.items()) for k, v in series.items()}


def plot(runs: List[Tuple[str, Dict[str, list]]], keys: List[str],
         out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4),
                             squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, series in runs:
            points = series.get(key)
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker='o' if len(xs) < 30 else None,
                        markersize=3, label=label)
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        if key == 'lr':
            ax.ticklabel_format(axis='y', style='sci', scilimits=(-3, 3))
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', type=Path)
    parser.add_argument('--out', default='curves.png')
    parser.add_argument('--keys', nargs='+',
                        help='scalars to plot (default: loss, lr, metric)')
    parser.add_argument('--labels', nargs='+',
                        help='legend labels (default: work dir names)')
    args = parser.parse_args(argv)
    if args.labels and len(args.labels) != len(args.work_dirs):
        raise cli.ToolError(f'{len(args.labels)} labels for '
                            f'{len(args.work_dirs)} work dirs')
    for work_dir in args.work_dirs:
        if not work_dir.is_dir():
            raise cli.ToolError(f'work dir not found: {work_dir}')
    labels = args.labels or [d.resolve().name for d in args.work_dirs]
    runs = [(label, read_scalars(d)) for label, d in zip(labels,
                                                         args.work_dirs)]
    keys = args.keys or ['loss', 'lr'] + [
        m for m in METRICS[:1] + METRICS[2:3]
        if any(m in series for _, series in runs)]
    missing = [k for k in keys if not any(k in s for _, s in runs)]
    if missing:
        known = sorted({k for _, s in runs for k in s})
        raise cli.ToolError(f'no run logged {missing}; logged: {known}')
    if not args.out.lower().endswith('.png'):
        raise cli.ToolError(f'--out must be a .png file: {args.out}')
    plot(runs, keys, args.out)
    print(f'wrote {args.out} ({len(runs)} runs: {", ".join(keys)})')


if __name__ == '__main__':
    cli.run_tool(main)
