"""Evaluate a checkpoint: COCO bbox mAP for detectors, mIoU/aAcc/mAcc for
segmentors (whatever the config's test_evaluator computes).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR [--show-score-thr T]] [--deploy]
        [--cfg-options k=v ...] [--launcher pytorch|slurm]

The checkpoint is read with ``weights_only=True`` and the allow-list of
:mod:`backbones.checkpoint`; ``--unsafe-load`` is the explicit opt-out for a
trusted file that holds other objects.
"""
import argparse
import json
import numbers
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backbones import tooling  # noqa: E402
from backbones.checkpoint import check_model_checkpoint  # noqa: E402
from backbones.data_checks import data_errors  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a checkpoint')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs go (default: '
                        'work_dirs/<config name>)')
    parser.add_argument('--out', help='also dump the raw predictions to this '
                        '.pkl file')
    parser.add_argument('--show-dir', help='draw the predictions for every '
                        'test image into this folder (mmdet / mmseg '
                        'visualizers)')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='smallest score of a drawn box (default 0.3)')
    parser.add_argument('--deploy', action='store_true',
                        help='test in deploy mode (BatchNorm folded, as with '
                        'deploy = True in the config)')
    tooling.add_launcher_args(parser)
    tooling.add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tooling.preflight()
    tooling.apply_unsafe_load(args.unsafe_load)
    tooling.check_checkpoint(args.checkpoint)
    cfg = tooling.load_run_config(args)
    cfg.load_from = args.checkpoint
    tooling.apply_deploy(cfg, args.deploy)
    if args.show_dir:
        show_dir = tooling.enable_show_dir(cfg, args.show_dir,
                                           args.show_score_thr)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise tooling.ToolError('--out must end with .pkl or .pickle')
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = list(evaluators) + [
            dict(type='DumpResults', out_file_path=args.out)]
    runner = tooling.build_runner(cfg, ['test_dataloader'])
    check_model_checkpoint(runner.model, args.checkpoint)
    with data_errors(cfg):
        metrics = runner.test()
    print(f'Test results for {args.checkpoint}: '
          f'{tooling.summarize_metrics(metrics)}')
    if args.show_dir:
        print(f'drew the predictions into {show_dir}')
    print('metrics json: ' + json.dumps(
        {k: float(v) for k, v in metrics.items()
         if isinstance(v, (numbers.Real, np.generic))}))
    return metrics


if __name__ == '__main__':
    tooling.run_tool(main)
